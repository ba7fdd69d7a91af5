"""Dataset recipes, end to end on stand-ins of every public layout (tests/public_datasets.py):
recipe -> manifest whose test split is exactly the official list -> `benchmark run` -> test cells
holding exactly those videos; the shipped suites validate against the prepared tree."""

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmark import plugins
from benchmark.datasets import DatasetRecipe, Item
from benchmark.hookspecs import hookimpl

from conftest import assert_refused, run_main
from public_datasets import SOURCES, build, build_df40

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The downloads (raw/) and every recipe prepared from them (prepared/<recipe>/, FF++ in place)."""
    root = tmp_path_factory.mktemp("public")
    raw, prepared = root / "raw", root / "prepared"
    tests = build(raw)
    from benchmark.cli import main

    assert main(["prepare", "ffpp", str(raw / "FaceForensics++"), "--frames", "2", "--workers", "0"]) == 0
    for recipe, (folder, extra) in SOURCES.items():
        args = [a.format(root=raw) for a in extra]
        decoding = [] if recipe in ("wilddeepfake", "df40") else ["--frames", "2", "--workers", "0"]  # face crops
        assert main(["prepare", recipe, str(raw / folder), str(prepared / recipe), *decoding, *args]) == 0, recipe
    (prepared / "FaceForensics++").symlink_to(raw / "FaceForensics++")  # the suites expect DATA/FaceForensics++
    return raw, prepared, tests


def manifest(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("recipe", sorted(SOURCES))
def test_each_recipe_keeps_exactly_the_official_test_videos(tree, recipe):
    _, prepared, tests = tree
    table = manifest(prepared / recipe)
    assert set(table["split"]) == {"test"}  # test-only sets: nothing else unless --all-splits
    assert set(zip(table["class"], table["video"])) == tests[recipe]
    for path in table["path"]:
        assert (prepared / recipe / path).is_file()
    summary = json.loads((prepared / recipe / "prepare.json").read_text())
    assert summary["parameters"]["dataset"] == recipe


def test_all_splits_keeps_the_official_train_and_val_videos_too(tree, tmp_path, capsys):
    raw, _, tests = tree
    assert run_main(capsys, "prepare", "celebdf", raw / "Celeb-DF-v2", tmp_path / "cdf", "--frames", "1",
                    "--workers", "0", "--all-splits")[0] == 0
    table = manifest(tmp_path / "cdf")
    test = set(zip(*[table[table["split"] == "test"][c] for c in ("class", "video")]))
    assert test == tests["celebdf"] and set(table["split"]) == {"train", "test"}
    assert ("CDFv2_Celeb-real", "id0_0000") in set(zip(table["class"], table["video"]))  # not listed: train
    assert run_main(capsys, "prepare", "dfdc", raw / "DFDC", tmp_path / "dfdc", "--frames", "1", "--workers", "0",
                    "--all-splits")[0] == 0
    table = manifest(tmp_path / "dfdc")
    assert dict(zip(table["video"], table["split"]))["eeee"] == "train"
    assert dict(zip(table["video"], table["class"]))["eeee"] == "DFDC_fake"


def test_deeperforensics_reals_are_the_ffpp_videos_its_fakes_were_made_on(tree, tmp_path, capsys):
    raw, _, _ = tree
    assert run_main(capsys, "prepare", "deeperforensics", raw / "DeeperForensics-1.0", tmp_path / "dfo", "--frames",
                    "1", "--workers", "0", "--all-splits", "--ffpp", raw / "FaceForensics++")[0] == 0
    table = manifest(tmp_path / "dfo")
    splits = dict(zip(zip(table["class"], table["video"]), table["split"]))
    assert splits[("DFo_real", "071")] == splits[("DFo_fake", "071_M101")] == "train"
    assert splits[("DFo_real", "720")] == "val" and splits[("DFo_real", "953")] == "test"


def test_the_shipped_suites_validate_against_the_prepared_tree(tree, capsys):
    _, prepared, _ = tree
    offline = [a for d in ("clip-linear-probe", "clip-adapter", "xception", "efficientnet-b4")
               for a in ("--set", f"detectors.{d}.pretrained=none")]  # no hub here
    code, out, err = run_main(capsys, "validate", ROOT / "suites" / "cross-dataset.yaml", "--data-dir", prepared, *offline)
    assert code == 0, err
    assert "CDFv2" in out and "WDF" in out


def test_the_df40_suite_validates_against_both_df40_downloads(tree, tmp_path, capsys):
    raw, _, _ = tree
    build_df40(tmp_path / "DF40")
    data = tmp_path / "data"
    data.mkdir()
    (data / "FaceForensics++").symlink_to(raw / "FaceForensics++")
    for recipe, src in (("celebdf", raw / "Celeb-DF-v2"), ("df40", tmp_path / "DF40")):
        decoding = ["--frames", "1", "--workers", "0"] if recipe == "celebdf" else []
        assert run_main(capsys, "prepare", recipe, src, data / recipe, "--all-splits", *decoding)[0] == 0
    table = manifest(data / "df40")
    assert set(table[table["video"] == "953_974"]["split"]) == {"test"}
    assert set(table[table["video"] == "720_672"]["split"]) == {""}  # the training download: FF++'s splits decide
    offline = [a for d in ("clip-linear-probe", "xception") for a in ("--set", f"detectors.{d}.pretrained=none")]
    code, out, err = run_main(capsys, "validate", ROOT / "suites" / "df40.yaml", "--data-dir", data, *offline)
    assert code == 0, err


SETS = {"CDFv2": ("celebdf", "[CDFv2_Celeb-real, CDFv2_YouTube-real]", "[CDFv2_Celeb-synthesis]"),
        "DFD": ("dfd", "[DFD_real]", "[DFD_fake]"), "DFDC": ("dfdc", "[DFDC_real]", "[DFDC_fake]"),
        "DFDCP": ("dfdcp", "[DFDCP_real]", "[DFDCP_fakeA, DFDCP_fakeB]"), "UADFV": ("uadfv", "[UADFV_real]", "[UADFV_fake]"),
        "DFo": ("deeperforensics", "[DFo_real]", "[DFo_fake]"), "FFIW": ("ffiw", "[FFIW_real]", "[FFIW_fake]"),
        "WDF": ("wilddeepfake", "[WDF_real]", "[WDF_fake]"), "DF40": ("df40", "[heygen_real]", "[heygen_fake]")}


def test_a_run_scores_exactly_the_official_test_videos(tree, tmp_path, capsys):
    _, prepared, tests = tree
    suite = tmp_path / "s.yaml"
    manifests = ", ".join(["FaceForensics++/manifest.csv"] + [f"{r}/manifest.csv" for r, _, _ in SETS.values()])
    sets = "".join(f"  {name}: {{real: {real}, fake: {fake}}}\n" for name, (_, real, fake) in SETS.items())
    suite.write_text(
        f"name: cross\ndata: {{layout: manifest, real: Real_youtube, splits: official, manifest: [{manifests}]}}\n"
        f"sets:\n{sets}pairings: [{{train: FaceSwap, test: [FaceSwap, {', '.join(SETS)}]}}]\n"
        "detectors: {shortcut-probe: {}}\nreport: {bootstrap: 0}\n")
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "run", suite, "--data-dir", prepared, "--output-dir", out, "--workers", "0")
    assert code == 0, err
    cells = out / "shortcut-probe" / "train-FaceSwap" / "seed-42"
    for name, (recipe, _, _) in SETS.items():
        scored = pd.read_csv(cells / f"test-{name}" / "test_predictions.csv", dtype=str)
        wanted = {(c, v) for c, v in tests[recipe] if recipe != "df40" or c.startswith("heygen")}
        assert set(zip(scored["class"], scored["video"])) == wanted, name
    ff = pd.read_csv(cells / "test-FaceSwap" / "test_predictions.csv", dtype=str)
    assert set(ff["video"]) == {"953", "974", "012", "026", "953_974", "974_953", "012_026", "026_012"}  # FF++ test


def test_missing_lists_and_unexpected_layouts_are_one_line(tmp_path, capsys):
    (tmp_path / "cdf" / "Celeb-real").mkdir(parents=True)
    assert_refused(run_main(capsys, "prepare", "celebdf", tmp_path / "cdf", tmp_path / "out"),
                   "List_of_testing_videos.txt does not exist: expected Celeb-DF's official test list", tmp_path / "out")
    (tmp_path / "cdf" / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")
    assert_refused(run_main(capsys, "prepare", "celebdf", tmp_path / "cdf", tmp_path / "out"),
                   "line 1: label 0 for Celeb-real (Celeb-DF marks real as 1", tmp_path / "out")
    (tmp_path / "dfdc" / "test").mkdir(parents=True)
    (tmp_path / "dfdc" / "test" / "labels.csv").write_text("name,fake\nx.mp4,1\n")
    assert_refused(run_main(capsys, "prepare", "dfdc", tmp_path / "dfdc", tmp_path / "out"),
                   "labels.csv: expected columns filename,label", tmp_path / "out")
    assert_refused(run_main(capsys, "prepare", "deeperforensics", tmp_path / "dfdc", tmp_path / "out"),
                   "--ffpp FFPP_ROOT is needed", tmp_path / "out")
    assert_refused(run_main(capsys, "prepare", "uadfv", tmp_path / "missing", tmp_path / "out"),
                   "is not a folder: expected UADFV", tmp_path / "out")
    (tmp_path / "u" / "real").mkdir(parents=True)
    (tmp_path / "u" / "fake").mkdir()
    (tmp_path / "u" / "real" / "..mp4").write_bytes(b"x")  # its stem '.' would be DEST/<class>/. itself
    assert_refused(run_main(capsys, "prepare", "uadfv", tmp_path / "u", tmp_path / "out"),
                   "'video' must be a plain folder name", tmp_path / "out")
    (tmp_path / "wdf").mkdir()
    (tmp_path / "wdf" / "real_test.tar.gz").write_bytes(b"x")
    assert_refused(run_main(capsys, "prepare", "wilddeepfake", tmp_path / "wdf", tmp_path / "out"),
                   "extract them first", tmp_path / "out")


def test_a_rerun_with_other_parameters_into_the_same_dest_is_refused(tree, tmp_path, capsys):
    raw, _, _ = tree
    args = ["prepare", "uadfv", raw / "UADFV", tmp_path / "u", "--frames", "2", "--workers", "0"]
    assert run_main(capsys, *args)[0] == 0
    assert_refused(run_main(capsys, *args[:-4], "--frames", "3", "--workers", "0"), "was prepared with --frames 2")
    assert_refused(run_main(capsys, "prepare", "uadfv", raw / "UADFV", tmp_path / "u", "--frames", "2", "--workers",
                            "0", "--all-splits"), "was prepared with all_splits False")
    assert_refused(run_main(capsys, *args, "--landmarks"), "--landmarks works on faces: add --faces")


class OneFolder(DatasetRecipe):
    name = "one-folder"
    title, layout, test_split = "One folder", "clips/*.mp4", "every clip"

    def items(self, src, options):
        return [Item(p, "ONE_fake" if "f" in p.stem else "ONE_real", p.stem, "test") for p in sorted(src.glob("*.mp4"))]


class Recipes:
    @staticmethod
    @hookimpl
    def register_datasets(register):
        register(OneFolder())


def test_hook_register_datasets(registered, tree, tmp_path, capsys):
    """A third party's recipe becomes `benchmark prepare <name>`; the built-ins come the same way."""
    raw, _, _ = tree
    assert {"ffpp", "celebdf", "dfd", "dfdc", "dfdcp", "uadfv", "deeperforensics", "ffiw", "wilddeepfake",
            "df40"} == {e.name for e in plugins.collect().datasets}
    registered(Recipes, "recipes")
    src = tmp_path / "clips"
    src.mkdir()
    for video in (raw / "UADFV" / "real").glob("*.mp4"):
        (src / video.name).write_bytes(video.read_bytes())
    (src / "f0.mp4").write_bytes((raw / "UADFV" / "fake" / "0000_fake.mp4").read_bytes())
    code, out, err = run_main(capsys, "prepare", "one-folder", src, tmp_path / "out", "--frames", "1", "--workers", "0")
    assert code == 0, err
    assert set(manifest(tmp_path / "out")["class"]) == {"ONE_real", "ONE_fake"}

    class NotARecipe:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            register("celebdf")

    registered(NotARecipe, "not_a_recipe")
    assert any(p == "not_a_recipe" and "DatasetRecipe instance" in why for p, why in plugins.collect().broken)
