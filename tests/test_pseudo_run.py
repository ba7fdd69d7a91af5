"""Pseudo-fakes as a training set, end to end through the CLI: `train: sbi` and `train: blended` with a
pixel detector and a frozen-feature detector, the provenance of every pseudo-fake, reproducibility
(seeds, workers, kill -9 and resume), images that cannot be blended, and the run's identity."""

import json

import pandas as pd
import pytest
import torch

from benchmark.pseudo import landmarks as landmark_store
from conftest import assert_refused, run_main, write_suite
from benchmark.pseudo.drawn import make_face_videos
from test_resume import assert_resumes_identically

pytestmark = pytest.mark.slow  # end-to-end runs: `python -m pytest -m "not slow"` leaves them out

SUITE = """name: pseudo
data: {real: Real}
pairings:
  - {train: sbi, test: [Fake]}
  - {train: blended, test: [Fake]}
  - {train: Fake, test: [Fake]}
detectors:
  pixel-cnn: {size: 32, channels: 4, epochs: 2, batch_size: 8}
  clip-linear-probe: {pretrained: none, backbone: BACKBONE}
generators:
  sbi: {per_image: 2}
"""


def make_data(tmp_path, **kwargs):
    return make_face_videos(tmp_path / "data", {"Real": (0, 0, 0), "Fake": (40, -20, 0)}, videos=14, frames=2,
                            size=48, **kwargs)


def run(capsys, tmp_path, suite, out, *extra):
    return run_main(capsys, "run", suite, "--data-dir", tmp_path / "data", "--output-dir", out,
                    "--cache-dir", tmp_path / "cache", "--workers", "0", *extra)


def test_sbi_and_blended_train_pixel_and_frozen_detectors_and_no_pseudo_fake_derives_from_val_or_test(
        tmp_path, capsys, tiny_backbone):
    make_data(tmp_path)
    suite = write_suite(tmp_path / "s.yaml", SUITE.replace("BACKBONE", tiny_backbone))
    out = tmp_path / "out"
    code, printed, err = run(capsys, tmp_path, suite, out)
    assert code == 0, err
    results = pd.read_csv(out / "results.csv")
    assert {(r.detector, r.train) for r in results.itertuples()} == {
        (d, t) for d in ("pixel-cnn", "clip-linear-probe") for t in ("sbi", "blended", "Fake")}

    # provenance: every pseudo-fake's source (and partner) is a real image of its own split
    splits = pd.read_csv(out / "splits.csv").set_index("path")
    made = pd.read_csv(out / "generated.csv", keep_default_na=False)
    assert set(made["generator"]) == {"sbi", "blended"} and set(made["split"]) == {"train", "val"}
    for row in made.itertuples():
        for used in [row.source, *row.partners.split()]:
            assert splits.loc[used, "class"] == "Real" and splits.loc[used, "split"] == row.split, row
    tests = set(splits.index[splits["split"] == "test"])
    assert not tests & (set(made["source"]) | {p for ps in made["partners"] for p in ps.split()})
    assert all(row.partners for row in made.itertuples() if row.generator == "blended")
    reals = splits[(splits["class"] == "Real")]
    train_reals = int((reals["split"] == "train").sum())
    sbi = made[made["generator"] == "sbi"]
    assert int((sbi["split"] == "train").sum()) == 3 * train_reals  # 2 fixed + 1 fresh per train image
    assert int((sbi["split"] == "val").sum()) == int((reals["split"] == "val").sum())  # 1 fixed per val image

    meta = json.loads((out / "meta.json").read_text())
    assert meta["generators"]["sbi"]["per_image"] == 2 and meta["generators"]["sbi"]["train"]["blended"] == train_reals
    assert (out / meta["generators"]["sbi"]["figure"]).is_file()
    audit = json.loads((out / "audit.json").read_text())
    assert audit["generators"]["blended/val"]["not_blended"] == 0
    cell = next(c for c in audit["cells"] if c["train"] == "sbi")
    assert cell["train_blended"] == cell["train_fake"] == train_reals and cell["train_not_blended"] == 0
    assert "generators" in json.loads((out / "identity.json").read_text())
    report = (out / "report.md").read_text()
    assert "generators/sbi.png" in report and "Pseudo-fakes" in report
    assert f"(pseudo-fakes of {train_reals} real images; 0 not blended)" in report
    # the frozen detector's fixed blends are cached: a second run encodes nothing, not even a blend
    code, printed, err = run(capsys, tmp_path, suite, tmp_path / "again")
    assert code == 0, err
    features = json.loads((tmp_path / "again" / "meta.json").read_text())["features"]
    assert features["images_encoded"] == 0 and features["cache_hits"] > 0
    # another generator setting is another experiment: refused in the same run dir, naming it
    assert_refused(run(capsys, tmp_path, suite, out, "--set", "generators.sbi.per_image=3"),
                   "generators.sbi.per_image: 2 -> 3")


PIXEL = """name: pixel
data: {real: Real}
pairings: [{train: sbi, test: [Fake]}]
detectors: {pixel-cnn: {size: 16, channels: 4, epochs: 3, batch_size: 8}}
"""


def weights(out, seed=42):
    return torch.load(out / f"pixel-cnn/train-sbi/seed-{seed}/final_model.pth", weights_only=True)["state"]["model"]


def test_the_same_seed_gives_the_same_fresh_blends_with_any_number_of_workers(tmp_path, capsys):
    make_data(tmp_path)
    suite = write_suite(tmp_path / "s.yaml", PIXEL)
    assert run(capsys, tmp_path, suite, tmp_path / "a")[0] == 0
    code, _, err = run_main(capsys, "run", suite, "--data-dir", tmp_path / "data", "--output-dir", tmp_path / "b",
                            "--cache-dir", tmp_path / "cache", "--workers", "2")
    assert code == 0, err
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pd.read_csv(tmp_path / "a/results.csv")["auc"].tolist() == pd.read_csv(tmp_path / "b/results.csv")["auc"].tolist()
    assert run(capsys, tmp_path, suite, tmp_path / "c", "--seed", "7")[0] == 0  # another seed: other blends, other weights
    c = weights(tmp_path / "c", seed=7)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_kill_9_then_resume_gives_the_same_weights_on_fresh_blends(tmp_path):
    make_data(tmp_path)
    suite = write_suite(tmp_path / "s.yaml", PIXEL)
    args = lambda out: ["run", suite, "--data-dir", tmp_path / "data", "--output-dir", out,  # noqa: E731
                        "--cache-dir", tmp_path / "cache", "--workers", "0"]
    assert_resumes_identically(tmp_path, args, "pixel-cnn/train-sbi/seed-42", killed_after=1, epochs=3)


def test_images_without_a_face_are_not_blended_but_counted_and_listed(tmp_path, capsys, monkeypatch):
    make_data(tmp_path)
    (tmp_path / "data/Real/real_000/landmarks.npy").unlink()  # as if prepared without --landmarks
    monkeypatch.setattr(landmark_store, "detect", lambda path: None)  # and dlib finds no face there
    suite = write_suite(tmp_path / "s.yaml", PIXEL.replace("epochs: 3", "epochs: 1"))
    code, printed, err = run(capsys, tmp_path, suite, tmp_path / "out")
    assert code == 0, err
    audit = json.loads((tmp_path / "out/audit.json").read_text())
    split = pd.read_csv(tmp_path / "out/splits.csv").set_index("path")
    missing = [p for p in split.index if "/real_000/" in p]
    part = audit["generators"][f"sbi/{split.loc[missing[0], 'split']}"]
    assert part["not_blended"] == 2 and {e["path"] for e in part["examples"]} == set(missing)
    assert part["blended"] == part["real"] - 2
    assert any("not blended" in w for w in audit["warnings"])
    made = pd.read_csv(tmp_path / "out/generated.csv")
    assert not set(made["source"]) & set(missing)


def test_a_generator_with_nothing_to_blend_stops_before_writing(tmp_path, capsys, monkeypatch):
    make_data(tmp_path)
    for marks in (tmp_path / "data/Real").rglob("landmarks.npy"):
        marks.unlink()
    monkeypatch.setattr(landmark_store, "detect", lambda path: None)
    suite = write_suite(tmp_path / "s.yaml", PIXEL)
    assert_refused(run(capsys, tmp_path, suite, tmp_path / "out"),
                   "generators.sbi: none of the", tmp_path / "out")


def test_a_data_class_named_like_a_generator_stays_a_class_unless_listed(tmp_path, capsys):
    make_face_videos(tmp_path / "data", {"Real": (0, 0, 0), "Fake": (0, 40, 0), "sbi": (40, 0, 0)}, videos=8, frames=1,
                     size=32)
    text = PIXEL.replace("epochs: 3", "epochs: 1")
    assert run(capsys, tmp_path, write_suite(tmp_path / "s.yaml", text), tmp_path / "class")[0] == 0
    assert not (tmp_path / "class/generated.csv").exists()  # the folder sbi/ was the fake class
    listed = write_suite(tmp_path / "l.yaml", text + "generators: {sbi: {}}\n")
    assert_refused(run(capsys, tmp_path, listed, tmp_path / "out"),
                   "generator 'sbi' (generators.sbi) has the name of the class 'sbi'", tmp_path / "out")
