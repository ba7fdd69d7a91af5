"""Catalogue, part 4: checkpoints never run code, and broken ones are one line naming the file."""

import os

import pytest
import torch

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}
MODEL = "clip-adapter/train-FaceSwap/seed-42/final_model.pth"


class RunsCode:
    """What a tampered checkpoint holds: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def trained(tmp_path, tiny_backbone, capsys):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE + "selection: {oracle: true}\n")
    out = tmp_path / "run"

    def run(*extra):
        return run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, *tiny_args(tiny_backbone), *extra)

    code, _, err = run("--mode", "train")
    assert code == 0, err
    return out, run


def test_tampered_final_model_is_refused_not_run(trained, tmp_path):
    out, run = trained
    marker = tmp_path / "pwned"
    torch.save({"state": RunsCode(marker), "selection": {}}, out / MODEL)
    assert_refused(run("--mode", "test"), f"{out / MODEL}: refused to load: it needs pickled code to load")
    assert not marker.exists()


def test_planted_checkpoint_is_refused_under_oracle(trained, tmp_path):
    out, run = trained
    marker = tmp_path / "pwned"
    torch.save({"epoch": 2, "state": RunsCode(marker)}, out / "clip-adapter/train-FaceSwap/seed-42/checkpoint_epoch_2.pth")
    assert_refused(run("--mode", "test"), "checkpoint_epoch_2.pth: refused to load")
    assert not marker.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"not a checkpoint at all" * 10), "not a readable checkpoint (corrupt or truncated)"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable checkpoint (corrupt or truncated)"),
    (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    (lambda p: torch.save({"weights": torch.ones(3)}, p), "not a checkpoint written by this harness"),
])
def test_corrupt_truncated_or_foreign_final_model(trained, damage, message):
    out, run = trained
    damage(out / MODEL)
    assert_refused(run("--mode", "test"), f"{out / MODEL}: {message}")


def test_truncated_checkpoint_on_resume_names_the_file(trained):
    out, run = trained
    folder = out / "clip-adapter/train-FaceSwap/seed-42"
    (folder / "final_model.pth").unlink()  # as if killed before the end
    last = folder / "checkpoint_epoch_2.pth"
    last.write_bytes(last.read_bytes()[:100])
    assert_refused(run(), f"{last}: not a readable checkpoint")


def test_test_mode_before_training_writes_nothing(capsys, tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "run"
    assert_refused(run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, "--mode", "test",
                            *tiny_args(tiny_backbone)), "--mode test:", out)


def test_test_mode_scores_with_the_weights_only_model(trained):
    out, run = trained
    code, _, err = run("--mode", "test")
    assert code == 0, err
    assert "loaded" in (out / "clip-adapter/train-FaceSwap/seed-42/run.log").read_text()
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
