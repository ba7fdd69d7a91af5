"""Catalogue, part 6: kill -9 during training and during encoding, then resume: the same results
as an uninterrupted run, finished cells' files byte-identical. Determinism, cold cache or warm."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.data.images import image_batches

from conftest import interruptible, make_class_folders, run_main, tiny_args, write_suite

pytestmark = pytest.mark.slow  # end-to-end runs: `python -m pytest -m "not slow"` leaves them out

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}
MATRIX = ("name: m\ndata: {real: Real_youtube}\npairings: {matrix: [FaceSwap, NeuralTextures]}\n"
          "detectors: {clip-adapter: {lr: 0.001, dropout: 0.3}}\n")
EPOCHS = 6

# The CLI in a child process that SIGKILLs itself right after writing a chosen checkpoint, or after
# committing a chosen number of cache shards: a crash at a precise point, with no cleanup at all.
CHILD = """
import os, signal, sys
import benchmark.features.cache as cache, benchmark.features.encoders as features, benchmark.run.training as training
from benchmark.cli import main

features.SHARD_ROWS = 8
kill_at = os.environ.get("KILL_AT_CHECKPOINT")
kill_with = getattr(signal, os.environ.get("KILL_SIGNAL", "SIGKILL"))
if kill_at:
    save = training.atomic_save
    def saving_then_dying(obj, path):
        save(obj, path)
        if str(path).endswith(kill_at):
            os.kill(os.getpid(), kill_with)
    training.atomic_save = saving_then_dying
kill_after = int(os.environ.get("KILL_AFTER_SHARDS", "0"))
if kill_after:
    put, count = cache.EmbeddingCache.put, [0]
    def putting_then_dying(self, keys, embeddings):
        put(self, keys, embeddings)
        count[0] += 1
        if count[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    cache.EmbeddingCache.put = putting_then_dying
sys.exit(main(sys.argv[1:]))
"""


def child(args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, preexec_fn=interruptible)


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != "run.log"}


def setup(tmp_path, backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=8, frames=2)
    suite = write_suite(tmp_path / "matrix.yaml", MATRIX)
    return lambda out, cache: ["run", suite, "--data-dir", data, "--output-dir", out, "--cache-dir", cache,
                               *tiny_args(backbone, EPOCHS)]


def test_kill_during_training_then_resume_equals_an_uninterrupted_run(tmp_path, tiny_backbone):
    args = setup(tmp_path, tiny_backbone)
    reference = child(args(tmp_path / "reference", tmp_path / "cache"))
    assert reference.returncode == 0, reference.stderr

    epoch = random.randint(1, EPOCHS - 1)  # a random epoch of the second training run
    killed = child(args(tmp_path / "killed", tmp_path / "cache"),
                   KILL_AT_CHECKPOINT=f"train-NeuralTextures/seed-42/checkpoint_epoch_{epoch}.pth")
    assert killed.returncode == -signal.SIGKILL, f"epoch {epoch}: {killed.stderr}"
    out = tmp_path / "killed"
    first = out / "clip-adapter" / "train-FaceSwap"
    finished = files(first)
    assert len(rows(out)) == 2 and not (out / "clip-adapter/train-NeuralTextures/seed-42/final_model.pth").exists()

    resumed = child(args(out, tmp_path / "cache"))
    assert resumed.returncode == 0, resumed.stderr
    log = (out / "clip-adapter/train-NeuralTextures/seed-42/run.log").read_text()
    assert f"resumed after epoch {epoch}" in log, f"epoch {epoch}"
    assert files(first) == finished  # finished cells were not touched
    assert rows(out) == rows(tmp_path / "reference"), f"killed after epoch {epoch}"
    folder = "clip-adapter/train-NeuralTextures/seed-42"
    for name in ["final_model.pth", *(f"checkpoint_epoch_{k}.pth" for k in range(1, EPOCHS + 1))]:
        a, b = (torch.load(run / folder / name, weights_only=True) for run in (out, tmp_path / "reference"))
        assert a.get("selection") == b.get("selection"), f"killed after epoch {epoch}"
        for key, value in a["state"]["model"].items():  # every epoch's weights, bit for bit
            assert torch.equal(value, b["state"]["model"][key]), f"{name} {key}, killed after epoch {epoch}"


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path, tiny_backbone):
    args = setup(tmp_path, tiny_backbone)
    out = tmp_path / "interrupted"
    stopped = child(args(out, tmp_path / "cache"), KILL_SIGNAL="SIGINT",
                    KILL_AT_CHECKPOINT="train-FaceSwap/seed-42/checkpoint_epoch_2.pth")
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted: finished cells are kept; rerun the same command to resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]  # no temporary files left
    resumed = child(args(out, tmp_path / "cache"))
    assert resumed.returncode == 0, resumed.stderr
    reference = child(args(tmp_path / "reference", tmp_path / "cache"))
    assert reference.returncode == 0, reference.stderr
    assert rows(out) == rows(tmp_path / "reference")


def test_kill_during_encoding_loses_at_most_one_shard(tmp_path, tiny_backbone):
    args = setup(tmp_path, tiny_backbone)
    killed = child(args(tmp_path / "killed", tmp_path / "cache"), KILL_AFTER_SHARDS="2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = child(args(tmp_path / "killed", tmp_path / "cache"))
    assert resumed.returncode == 0, resumed.stderr
    features = json.loads((tmp_path / "killed/meta.json").read_text())["features"]
    assert features["cache_hits"] == 16  # two shards of 8 were committed before the kill
    assert features["images_encoded"] > 0

    uncached = child(args(tmp_path / "uncached", tmp_path / "other-cache"))
    assert uncached.returncode == 0, uncached.stderr
    assert rows(tmp_path / "killed") == rows(tmp_path / "uncached")


def test_cold_and_warm_cache_give_identical_metrics(capsys, tmp_path, tiny_backbone):
    args = setup(tmp_path, tiny_backbone)
    for name in ("cold", "warm"):
        code, _, err = run_main(capsys, *args(tmp_path / name, tmp_path / "cache"))
        assert code == 0, err
    assert json.loads((tmp_path / "warm/meta.json").read_text())["features"]["images_encoded"] == 0
    assert rows(tmp_path / "cold") == rows(tmp_path / "warm")


def test_swapped_keys_in_a_cache_shard_are_caught(capsys, tmp_path, tiny_backbone):
    args = setup(tmp_path, tiny_backbone)
    code, _, err = run_main(capsys, *args(tmp_path / "fill", tmp_path / "cache"))
    assert code == 0, err
    keys = next((tmp_path / "cache" / "embeddings").rglob("*.keys"))
    raw = keys.read_bytes()
    keys.write_bytes(raw[32:64] + raw[:32] + raw[64:])  # two images' entries swapped
    code, _, err = run_main(capsys, *args(tmp_path / "again", tmp_path / "cache"))
    assert code == 0, err
    assert json.loads((tmp_path / "again/meta.json").read_text())["features"]["damaged_shards_rebuilt"] == 1
    assert rows(tmp_path / "again") == rows(tmp_path / "fill")


def test_shuffled_batches_change_every_epoch_and_repeat_per_seed(tmp_path):
    paths = [str(p) for p in sorted(make_class_folders(tmp_path, {"A": (0, 0, 0)}, videos=12, frames=1).rglob("*.*"))]
    labels = list(range(len(paths)))

    def epochs(seed: int, n: int = 3):
        generator = torch.Generator().manual_seed(seed)
        return [torch.cat([y for _, y in image_batches(paths, labels, lambda im: torch.zeros(1), 4, True,
                                                       generator, 0)]).tolist() for _ in range(n)]

    first = epochs(1)
    assert first[0] != first[1] != first[2]
    assert epochs(1) == first and epochs(2) != first


def test_pixel_detector_resumes_exactly_too(tmp_path):
    """pixel-cnn reads pixels with random augmentation through ctx.image_batches: after a kill, the
    harness restores its batch generator and the global RNGs, the detector its optimizer."""
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=2, modes=[("png", "RGB")])
    suite = write_suite(tmp_path / "pixels.yaml", "name: p\ndata: {real: Real_youtube}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap]}]\n"
                        "detectors: {pixel-cnn: {size: 16, channels: 4, epochs: 4, batch_size: 8}}\n")

    def args(out):
        return ["run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0", "--no-cache"]

    assert_resumes_identically(tmp_path, args, "pixel-cnn/train-FaceSwap/seed-42", killed_after=2, epochs=4)


def assert_resumes_identically(tmp_path, args, folder: str, killed_after: int, epochs: int) -> None:
    """Run ``args(out)`` uninterrupted, and killed by SIGKILL after epoch ``killed_after`` then
    resumed: every later epoch's weights bit for bit, and the results, must be the same."""
    reference = child(args(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    killed = child(args(tmp_path / "killed"), KILL_AT_CHECKPOINT=f"seed-42/checkpoint_epoch_{killed_after}.pth")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = child(args(tmp_path / "killed"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after epoch {killed_after}" in (tmp_path / "killed" / folder / "run.log").read_text()
    for epoch in range(killed_after + 1, epochs + 1):
        a, b = (torch.load(run / folder / f"checkpoint_epoch_{epoch}.pth", weights_only=True)
                for run in (tmp_path / "killed", tmp_path / "reference"))
        for key, value in a["state"]["model"].items():
            assert torch.equal(value, b["state"]["model"][key]), f"epoch {epoch} {key}"
    assert rows(tmp_path / "killed") == rows(tmp_path / "reference")
