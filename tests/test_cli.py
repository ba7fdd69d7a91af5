"""The CLI driven the way a user drives it: a subprocess, a suite file, a data folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from benchmark.run.results import read_results

from conftest import make_class_folders

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = str(Path(sys.executable).parent / "benchmark")  # the installed console script
CELL_FILES = ("test_predictions.csv", "test_metrics.json", "roc_curve.png")


def cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([BENCHMARK, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def tiny(backbone: str, epochs: int = 3) -> list[str]:
    return ["--set", "detectors.clip-adapter.pretrained=none", "--set", f"detectors.clip-adapter.backbone={backbone}",
            "--set", f"detectors.clip-adapter.epochs={epochs}", "--workers", "0"]


@pytest.fixture(scope="module")
def faces_root(tmp_path_factory):
    return make_class_folders(
        tmp_path_factory.mktemp("faces"),
        {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)},
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, faces_root, tiny_backbone):
    """One finished run shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("runs") / "run"
    result = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", out, *tiny(tiny_backbone))
    assert result.returncode == 0, result.stderr
    return out, result


def test_run_writes_the_whole_contract(finished_run):
    out, result = finished_run
    for name in ("suite.yaml", "meta.json", "results.jsonl", "report.md", "splits.csv"):
        assert (out / name).is_file(), name
    run = out / "clip-adapter" / "train-FaceSwap" / "seed-42"
    assert (run / "run.log").is_file() and (run / "final_model.pth").is_file()
    assert sorted(p.name for p in run.glob("checkpoint_epoch_*.pth")) == [f"checkpoint_epoch_{k}.pth" for k in (1, 2, 3)]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["train"], r["test"]) for r in rows] == [("FaceSwap", "FaceSwap"), ("FaceSwap", "NeuralTextures")]
    for test in ("FaceSwap", "NeuralTextures"):
        for name in CELL_FILES:
            assert (run / f"test-{test}" / name).stat().st_size > 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seeds"] == [42] and meta["device"].startswith("cpu")
    assert meta["versions"]["torch"] and "clip-adapter" in meta["detectors"]
    assert "benchmark_plugins.detectors.clip_adapter" in meta["plugins"]["detector:clip-adapter"]
    assert "finished" in meta


def test_metrics_agree_with_the_predictions_file(finished_run):
    out, _ = finished_run
    for cell in out.glob("clip-adapter/train-*/seed-*/test-*"):
        predictions = pd.read_csv(cell / "test_predictions.csv")
        assert list(predictions.columns) == ["path", "class", "video", "label", "score", "prediction"]
        metrics = json.loads((cell / "test_metrics.json").read_text())
        assert metrics["auc"] == pytest.approx(roc_auc_score(predictions.label, predictions.score), abs=1e-6)
        # F1/accuracy use the threshold chosen on val, which the prediction column applies
        assert (predictions.prediction == (predictions.score >= metrics["threshold"])).all()
        assert metrics["accuracy"] == pytest.approx(accuracy_score(predictions.label, predictions.prediction), abs=1e-6)
        assert metrics["accuracy@0.5"] == pytest.approx(
            accuracy_score(predictions.label, predictions.score >= 0.5), abs=1e-6)
        assert metrics["n_real"] == int((predictions.label == 0).sum()) > 0
        assert metrics["n_fake"] == int((predictions.label == 1).sum()) > 0
        assert 0 <= metrics["eer"] <= 1 and 0 <= metrics["f1"] <= 1


def test_no_scored_image_was_used_in_training(finished_run):
    out, _ = finished_run
    splits = pd.read_csv(out / "splits.csv")
    assert list(splits.columns) == ["path", "class", "split", "sha256"]
    trained_on = set(splits[(splits.split == "train") & splits["class"].isin(["Real_youtube", "FaceSwap"])].path)
    for cell in out.glob("clip-adapter/train-FaceSwap/seed-*/test-*"):
        scored = set(pd.read_csv(cell / "test_predictions.csv").path)
        assert scored and not scored & trained_on
        assert set(splits[splits.path.isin(scored)].split) == {"test"}


def test_console_and_report_show_the_same_numbers(finished_run):
    out, result = finished_run
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    report = (out / "report.md").read_text()
    assert report.startswith("# Benchmark report") and report.index("## Leaderboard: AUC") < report.index("## clip-adapter")
    assert "## clip-adapter: AUC (higher is better)" in report and "| FaceSwap |" in report
    # directions come from each Metric plugin's higher_is_better, video variants included
    assert "| video_eer (lower is better) |" in report and "| auc (higher is better) |" in report
    for row in rows:
        for metric in ("auc", "eer", "f1", "accuracy"):
            number = f"{row[metric]:.3f} ["  # every value carries its interval
            assert number in report
        assert f"{row['auc']:.3f} [" in result.stdout  # the console shows the headline metric the same way


@pytest.mark.slow
def test_rerun_resumes_and_modes_split_training_from_testing(finished_run, faces_root, tiny_backbone, tmp_path):
    out, _ = finished_run
    log = out / "clip-adapter" / "train-FaceSwap" / "seed-42" / "run.log"
    before = log.read_text()
    again = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", out, *tiny(tiny_backbone))
    assert again.returncode == 0 and log.read_text() == before  # every cell done: nothing retrained
    assert len((out / "results.jsonl").read_text().splitlines()) == 2

    other = tmp_path / "two-step"
    trained = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", other, "--mode", "train",
                  *tiny(tiny_backbone))
    assert trained.returncode == 0, trained.stderr
    assert (other / "clip-adapter/train-FaceSwap/seed-42/final_model.pth").exists()
    assert read_results(other) == []
    tested = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", other, "--mode", "test",
                 *tiny(tiny_backbone))
    assert tested.returncode == 0, tested.stderr
    assert "loaded" in (other / "clip-adapter/train-FaceSwap/seed-42/run.log").read_text()
    assert len((other / "results.jsonl").read_text().splitlines()) == 2


@pytest.mark.slow  # five subprocesses; test_red_team_* cover one-line errors in the quick subset
@pytest.mark.parametrize("extra, message", [
    (["--set", "detectors.clip-adapter.epoch=3"], "unknown option 'detectors.clip-adapter.epoch'"),
    (["--set", "data.rooot=x"], "unknown suite key 'data.rooot'"),
    (["--set", "detectors={clip-adaptor: {}}"], "unknown detector 'clip-adaptor'; did you mean 'clip-adapter'"),
    (["--set", "prompts=nope"], "unknown prompt set 'nope'"),
    (["--set", "pairings=[{train: Deepfakes, test: [FaceSwap]}]"], "class 'Deepfakes' not found"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, faces_root, extra, message):
    out = tmp_path / "never"
    result = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", out, *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_unloadable_weights_name_the_option(tmp_path, faces_root):
    result = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", tmp_path / "w",
                 "--set", "detectors.clip-adapter.backbone=ViT-S-32-alt", "--workers", "0")
    assert result.returncode == 2
    assert "detectors.clip-adapter.pretrained" in result.stderr and "none" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_another_suite_never_overwrites_a_run(finished_run, faces_root, tiny_backbone):
    out, _ = finished_run
    result = cli("run", "suites/ff++.yaml", "--data-dir", faces_root, "--output-dir", out,
                 *tiny(tiny_backbone, epochs=2))
    assert result.returncode == 2
    assert "holds another experiment: detectors.clip-adapter.epochs: 3 -> 2" in result.stderr


@pytest.mark.slow
def test_demo_suite_runs_and_says_it_is_a_smoke_demo(tmp_path):
    out = tmp_path / "demo"
    result = cli("run", "suites/demo.yaml", "--output-dir", out, "--set", "data.synthetic.videos=8", "--epochs", "2",
                 "--workers", "0")
    assert result.returncode == 0, result.stderr
    assert "SMOKE DEMO" in result.stdout and "SMOKE DEMO" in (out / "report.md").read_text()
    rows = [json.loads(r) for r in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12  # 3 detectors x 2 training sets x 2 test sets
    assert {r["detector"] for r in rows} == {"clip-adapter", "pixel-cnn", "shortcut-probe"}
    assert {r["test"] for r in rows} == {"FaceSwapSim", "TextureSim"}
    assert "Mean AUC, own manipulation vs unseen ones: clip-adapter" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_plugins_validate_and_report_commands(finished_run, tmp_path):
    out, _ = finished_run
    listing = cli("plugins")
    assert listing.returncode == 0
    for name in ("clip-adapter", "default", "auc", "eer", "f1", "accuracy", "forgery-benchmark"):
        assert name in listing.stdout

    as_module = subprocess.run([sys.executable, "-m", "benchmark", "plugins"], capture_output=True, text=True,
                               cwd=ROOT, timeout=120)
    assert as_module.returncode == 0 and "clip-adapter" in as_module.stdout

    valid = cli("validate", "suites/ff++-matrix.yaml")
    assert valid.returncode == 0 and "NeuralTextures" in valid.stdout

    (out / "report.md").unlink()
    rebuilt = cli("report", out)
    assert rebuilt.returncode == 0 and (out / "report.md").exists()
    compared = cli("report", out, out, "--bootstrap", "50")
    assert compared.returncode == 0 and "paired difference" in compared.stdout
    missing = cli("report", tmp_path)
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
