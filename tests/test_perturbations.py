"""Test-time perturbations: deterministic degradations, a suite dimension encoded once per (test image,
perturbation), robustness in the report, and `predict --perturb`."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark import plugins
from benchmark.perturbations import PRESETS, expand, parse

from conftest import assert_refused, run_main, tiny_args, write_suite

PERTURBED = ["none", "jpeg:30", "jpeg:70", "blur:2", "resize:0.5", "noise:0.05"]


def kinds():
    return plugins.collect().perturbations


def photo(seed=0, size=48):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("spec", PERTURBED[1:])
def test_each_degradation_changes_pixels_deterministically(spec):
    perturbation = parse(spec, kinds(), "perturbations")
    image = photo()
    once, again = perturbation(image, "a.png"), perturbation(image, "a.png")
    assert once.size == image.size and once.mode == "RGB"
    assert np.array_equal(np.asarray(once), np.asarray(again))  # seeded: the same pixels every time
    assert not np.array_equal(np.asarray(once), np.asarray(image))  # it really reaches the pixels
    if spec.startswith("noise"):
        assert not np.array_equal(np.asarray(perturbation(image, "b.png")), np.asarray(once))  # per image


def test_the_gend_preset_and_clean_first():
    assert expand("gend") == PRESETS["gend"] and expand(["jpeg:50"]) == ["none", "jpeg:50"]
    assert expand(["gend", "blur:7"])[-1] == "blur:7"


@pytest.mark.parametrize("value, message", [
    ("[none, jpg:50]", "perturbations: unknown perturbation 'jpg'; did you mean 'jpeg'?"),
    ("[none, jpeg:500]", "perturbations: 'jpeg:500': JPEG quality must be between 1 and 100"),
    ("[none, jpeg:high]", "perturbations: 'jpeg:high' needs a number after 'jpeg:', e.g. jpeg:70"),
    ("42", "'perturbations' must be a list such as [none, jpeg:50, blur:2] or a preset"),
])
def test_bad_perturbations_are_one_line(tmp_path, capsys, faces_root, value, message):
    suite = write_suite(tmp_path / "s.yaml", "name: t\ndata: {real: Real_youtube}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap]}]\ndetectors: {shortcut-probe: {}}\n"
                        f"perturbations: {value}\n")
    assert_refused(run_main(capsys, "run", suite, "--data-dir", faces_root, "--output-dir", tmp_path / "run"),
                   message, tmp_path / "run")
    assert_refused(run_main(capsys, "validate", suite), message)


SUITE = ("name: robust\ndata: {real: Real_youtube}\npairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\n"
         "detectors: {clip-adapter: {}, pixel-cnn: {epochs: 1, size: 16, channels: 4}}\n"
         f"perturbations: [{', '.join(PERTURBED)}]\nreport: {{bootstrap: 50}}\n")


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory, tiny_backbone):
    from conftest import make_class_folders

    base = tmp_path_factory.mktemp("robust")
    data = make_class_folders(base / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0),
                                              "NeuralTextures": (-30, 0, 60)}, videos=10, frames=2)
    suite = write_suite(base / "suite.yaml", SUITE)
    from benchmark.cli import main

    args = ["run", str(suite), "--data-dir", str(data), "--cache-dir", str(base / "cache"), *tiny_args(tiny_backbone)]
    assert main([*args, "--output-dir", str(base / "run")]) == 0
    return base, data, args


@pytest.mark.slow
def test_each_test_image_is_encoded_once_per_perturbation_and_never_again(robust_run):
    base, data, args = robust_run
    meta = json.loads((base / "run" / "meta.json").read_text())
    splits = pd.read_csv(base / "run" / "splits.csv")
    clean = len(splits[(splits["class"] != "NeuralTextures") | (splits.split == "test")])  # NT is only tested
    tests = len(splits[splits.split == "test"])
    assert meta["features"]["images_encoded"] == clean + (len(PERTURBED) - 1) * tests
    assert meta["perturbations"] == PERTURBED
    from benchmark.cli import main

    assert main([*args, "--output-dir", str(base / "warm")]) == 0
    warm = json.loads((base / "warm" / "meta.json").read_text())["features"]
    assert warm["images_encoded"] == 0 and warm["models_loaded"] == 0


def test_degraded_cells_are_a_report_dimension(robust_run):
    base, _, _ = robust_run
    rows = [json.loads(r) for r in (base / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * len(PERTURBED) and {r["perturbation"] for r in rows} == set(PERTURBED)
    for detector in ("pixel-cnn", "clip-adapter"):
        folder = base / "run" / detector / "train-FaceSwap" / "seed-42"
        degraded = pd.read_csv(folder / "test-FaceSwap__jpeg-30" / "test_predictions.csv")
        original = pd.read_csv(folder / "test-FaceSwap" / "test_predictions.csv")
        assert list(degraded.path) == list(original.path)
        assert not np.allclose(degraded.score, original.score)  # the degradation reached the detector
    report = (base / "run" / "report.md").read_text()
    assert "## Robustness: AUC (higher is better)" in report and "| jpeg:30 |" in report
    assert "figures/robustness_pixel-cnn_auc.png" in report
    tidy = pd.read_csv(base / "run" / "results.csv")
    assert set(tidy["perturbation"]) == set(PERTURBED)
    board = report[report.index("## Leaderboard: AUC"):report.index("## Leaderboard: video-level AUC")]
    assert "| pixel-cnn |" in board  # the leaderboard stays on clean cells


def test_a_new_perturbation_needs_extend_and_predict_applies_one(robust_run, capsys, tmp_path):
    base, data, args = robust_run
    code, _, err = run_main(capsys, *args, "--output-dir", base / "run", "--set",
                            f"perturbations=[{', '.join(PERTURBED)}, blur:1]")
    assert code == 2 and "perturbation blur:1" in err and "--extend" in err
    code, out, err = run_main(capsys, "predict", base / "run", "--detector", "pixel-cnn", "--train", "FaceSwap",
                              data / "FaceSwap", "--perturb", "jpeg:30", "--out", tmp_path / "p.csv",
                              "--workers", "0")
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "p.csv")
    degraded = pd.read_csv(base / "run" / "pixel-cnn" / "train-FaceSwap" / "seed-42" / "test-FaceSwap__jpeg-30" /
                           "test_predictions.csv")
    both = degraded.merge(scored, on="path", suffixes=("_run", "_predict"))
    assert len(both) > 0 and np.allclose(both.score_run, both.score_predict, atol=1e-6)  # the same degradation
