"""Manifests and named sets: any dataset layout through a CSV, and test sets with their own reals
(the cross-dataset protocol), from videos through `benchmark prepare` to `benchmark run`."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_prepare import make_clip

from conftest import assert_refused, run_main, write_suite

CROSS = """name: cross
data: {{layout: manifest, real: Real, manifest: [{a}, {b}], split: {{train: 0.5, val: 0.2, test: 0.3}}}}
sets:
  CDF: {{real: [Celeb-real], fake: [Celeb-synthesis]}}
pairings: [{{train: FaceSwap, test: [FaceSwap, CDF]}}]
detectors: {{shortcut-probe: {{}}}}
report: {{bootstrap: 30}}
"""


def images(folder, n, level, size=24):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(level)
    for i in range(n):
        array = np.clip(rng.normal(level, 30, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"img{i}.png")
    return sorted(folder.glob("*.png"))


def test_videos_to_a_cross_dataset_study_end_to_end(tmp_path, capsys):
    """FF-like videos and Celeb-DF-like videos, prepared separately, studied together: trained on
    FaceSwap (with FF's reals), tested on FaceSwap and on CDF (Celeb-DF's own reals and fakes)."""
    for dataset, classes in (("ff", {"Real": 0, "FaceSwap": 1}), ("celeb", {"Celeb-real": 2, "Celeb-synthesis": 3})):
        for cls, k in classes.items():
            for v in range(10):
                make_clip(tmp_path / "videos" / dataset / cls / f"{cls}{v}.mp4", 6 + v % 3, tag=10 + 6 * (4 * v + k))
        code, out, err = run_main(capsys, "prepare", "videos", tmp_path / "videos" / dataset, tmp_path / dataset,
                                  "--frames", "3", "--workers", "0")
        assert code == 0, err
        assert "20 videos: 20 prepared" in out and "60 frames written" in out  # every video and frame accounted
    suite = write_suite(tmp_path / "cross.yaml", CROSS.format(a=tmp_path / "ff" / "manifest.csv",
                                                               b=tmp_path / "celeb" / "manifest.csv"))
    out = tmp_path / "run"
    code, printed, err = run_main(capsys, "run", suite, "--data-dir", tmp_path, "--output-dir", out, "--workers", "0")
    assert code == 0, err
    rows = {r["test"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    splits = pd.read_csv(out / "splits.csv")
    test = splits[splits.split == "test"]
    assert rows["CDF"]["n_real"] == int((test["class"] == "Celeb-real").sum()) > 0  # the set's own reals
    assert rows["CDF"]["n_fake"] == int((test["class"] == "Celeb-synthesis").sum()) > 0
    assert rows["FaceSwap"]["n_real"] == int((test["class"] == "Real").sum())
    audit = json.loads((out / "audit.json").read_text())
    assert {c["test"] for c in audit["cells"]} == {"FaceSwap", "CDF"} and all(c["shared_units"] == 0 for c in audit["cells"])
    report = (out / "report.md").read_text()
    assert "FaceSwap -> CDF" in report
    provenance = json.loads((out / "meta.json").read_text())["prepare"]  # one entry per prepared manifest
    assert [p["totals"]["frames_written"] for p in provenance] == [60, 60]


def manifest_run(tmp_path, capsys, rows, extra=""):
    pd.DataFrame(rows).to_csv(tmp_path / "data" / "manifest.csv", index=False)
    suite = write_suite(tmp_path / "m.yaml", "name: m\ndata: {layout: manifest, real: R}\n"
                        "pairings: [{train: F, test: [F]}]\ndetectors: {shortcut-probe: {}}\nreport: {bootstrap: 0}\n"
                        + extra)
    return run_main(capsys, "run", suite, "--data-dir", tmp_path / "data", "--output-dir", tmp_path / "run",
                    "--workers", "0")


def test_a_manifest_split_column_is_the_split(tmp_path, capsys):
    real = images(tmp_path / "data" / "anywhere" / "r", 9, 60)
    fake = images(tmp_path / "data" / "else" / "f", 9, 160)
    parts = ["train"] * 5 + ["val"] * 2 + ["test"] * 2
    rows = [{"path": str(p.relative_to(tmp_path / "data")), "class": c, "video": f"{c}{i}", "split": s}
            for c, paths in (("R", real), ("F", fake)) for i, (p, s) in enumerate(zip(paths, parts))]
    code, _, err = manifest_run(tmp_path, capsys, rows)
    assert code == 0, err
    splits = pd.read_csv(tmp_path / "run" / "splits.csv")
    assert (splits.groupby("split").size() == pd.Series({"test": 4, "train": 10, "val": 4})).all()


@pytest.mark.parametrize("fault, message", [
    ("duplicate", "line 3: r/img0.png is listed twice (also at"),
    ("missing", "line 2: {data}/r/nothing.png does not exist; fix the path"),
    ("split", "line 2: split 'tset' is not one of train, val, test"),
    ("class", "class 'F' is not in manifest.csv (classes there: R)"),
])
def test_manifest_problems_name_the_row(tmp_path, capsys, fault, message):
    real = images(tmp_path / "data" / "r", 6, 60)
    fake = images(tmp_path / "data" / "f", 6, 160)
    rows = [{"path": str(p.relative_to(tmp_path / "data")), "class": c, "video": f"{c}{i}", "split": "train"}
            for c, paths in (("R", real), ("F", fake)) for i, p in enumerate(paths)]
    if fault == "duplicate":
        rows[1]["path"] = rows[0]["path"]
    elif fault == "missing":
        rows[0]["path"] = "r/nothing.png"
    elif fault == "split":
        rows[0]["split"] = "tset"
    elif fault == "class":
        rows = [r for r in rows if r["class"] == "R"]
    assert_refused(manifest_run(tmp_path, capsys, rows), message.format(data=tmp_path / "data"), tmp_path / "run")


@pytest.mark.parametrize("sets, pairings, message", [
    ("{S: {real: [A], fake: [B]}, T: {real: [B], fake: [C]}}", "[{train: A2, test: [S]}]",
     "'sets.T.real' lists 'B', which is fake elsewhere"),
    ("{A: {real: [X], fake: [A]}}", "[{train: B, test: [A]}]", "set name 'A' is also a class name"),
    ("{S: {real: [X], fake: [Y]}}", "[{train: B, test: [X]}]", "pairings[0] names 'X', a real class of a set"),
    ("{S: {real: [X]}}", "[{train: B, test: [S]}]", "'sets.S' must have exactly the keys real and fake"),
])
def test_bad_sets_are_one_line(tmp_path, capsys, sets, pairings, message):
    suite = write_suite(tmp_path / "s.yaml", f"name: s\nsets: {sets}\npairings: {pairings}\n"
                        "detectors: {shortcut-probe: {}}\n")
    assert_refused(run_main(capsys, "validate", suite), message)


def test_a_test_only_dataset_may_list_its_test_videos_only(tmp_path, capsys):
    """Celeb-DF's official list names test videos only: classes no training set uses need no other split."""
    real, fake = images(tmp_path / "data" / "r", 9, 60), images(tmp_path / "data" / "f", 9, 160)
    celeb_real, celeb_fake = images(tmp_path / "data" / "cr", 4, 90), images(tmp_path / "data" / "cf", 4, 200)
    rows = [{"path": str(p.relative_to(tmp_path / "data")), "class": c, "video": f"{c}{i}"}
            for c, paths in (("R", real), ("F", fake)) for i, p in enumerate(paths)]
    pd.DataFrame(rows).to_csv(tmp_path / "data" / "manifest.csv", index=False)
    pd.DataFrame([{"path": str(p.relative_to(tmp_path / "data")), "class": c, "video": f"{c}{i}", "split": "test"}
                  for c, paths in (("CR", celeb_real), ("CF", celeb_fake)) for i, p in enumerate(paths)]
                 ).to_csv(tmp_path / "data" / "celeb.csv", index=False)
    suite = write_suite(tmp_path / "m.yaml", "name: m\ndata: {layout: manifest, real: R, manifest: [manifest.csv, celeb.csv]}\n"
                        "sets: {CDF: {real: [CR], fake: [CF]}}\npairings: [{train: F, test: [F, CDF]}]\n"
                        "detectors: {shortcut-probe: {}}\nreport: {bootstrap: 0}\n")
    code, _, err = run_main(capsys, "run", suite, "--data-dir", tmp_path / "data", "--output-dir", tmp_path / "run",
                            "--workers", "0")
    assert code == 0, err
    cdf = [json.loads(r) for r in (tmp_path / "run" / "results.jsonl").read_text().splitlines() if '"CDF"' in r][0]
    assert (cdf["n_real"], cdf["n_fake"]) == (4, 4)  # every listed test video, none lost to train/val
    trained = write_suite(tmp_path / "t.yaml", (tmp_path / "m.yaml").read_text().replace("[{train: F, test: [F, CDF]}]",
                                                                                        "[{train: CDF, test: [CDF]}]"))
    assert_refused(run_main(capsys, "validate", trained, "--data-dir", tmp_path / "data"),
                   "class 'CR' has no train images")
