"""Issue 18, files: prepare refuses other parameters and accounts for short videos and images posing
as videos; a damaged results.jsonl is repaired by a rerun; a full disk is named; a killed prepare
leaves no worker; a comparison never writes into a run dir."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import benchmark.files

from conftest import SEED_SUITE, assert_refused, interruptible, make_class_folders, run_main, tiny_args, write_suite
from test_prepare import make_clip

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


@pytest.fixture
def finished_run(tmp_path, capsys, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
    out = tmp_path / "run"

    def run():
        return run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, *tiny_args(tiny_backbone, 1))

    code, _, err = run()
    assert code == 0, err
    return out, run


def test_prepare_refuses_to_resume_with_other_parameters(tmp_path, capsys):
    src, dest = tmp_path / "videos", tmp_path / "frames"
    for i in range(2):
        make_clip(src / "Real" / f"r{i}.mp4", 20)
    code, _, err = run_main(capsys, "prepare", "videos", src, dest, "--frames", "4", "--workers", "0")
    assert code == 0, err
    before = (dest / "prepare.json").read_text()
    result = run_main(capsys, "prepare", "videos", src, dest, "--frames", "8", "--workers", "0")
    assert_refused(result, f"{dest / 'prepare.json'} was prepared with --frames 4, this run asks for 8")
    assert (dest / "prepare.json").read_text() == before
    # a first run killed before prepare.json: the videos' own records still say how they were made
    (dest / "prepare.json").unlink()
    result = run_main(capsys, "prepare", "videos", src, dest, "--frames", "8", "--workers", "0")
    assert_refused(result, "video.json was prepared with --frames 4, this run asks for 8")


def test_prepare_lists_short_videos_and_refuses_images_posing_as_videos(tmp_path, capsys):
    src, dest = tmp_path / "videos", tmp_path / "frames"
    make_clip(src / "Real" / "long.mp4", 20)
    make_clip(src / "Real" / "short.mp4", 3)
    Image.new("RGB", (32, 32)).save(src / "Real" / "photo.jpg")
    (src / "Real" / "photo.jpg").rename(src / "Real" / "photo.avi")
    code, out, err = run_main(capsys, "prepare", "videos", src, dest, "--frames", "6", "--workers", "0")
    assert code == 0, err
    text = " ".join(out.split())
    assert "short.mp4: only 3 of 6 frames: the video has 3" in text
    assert "photo.avi: an image, not a video" in text
    assert "long.mp4:" not in text
    assert_refused(run_main(capsys, "prepare", "videos", src, src / "frames", "--workers", "0"), "is inside SRC")


def test_killed_prepare_leaves_no_worker_behind(tmp_path):
    src, dest = tmp_path / "videos", tmp_path / "frames"
    for i in range(8):
        make_clip(src / "Real" / f"r{i}.mp4", 300, tag=i)
    child = subprocess.Popen([sys.executable, "-m", "benchmark", "prepare", "videos", str(src), str(dest),
                              "--frames", "300", "--workers", "1"], preexec_fn=interruptible,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = Path(f"/proc/{child.pid}/task/{child.pid}/children")
    workers, deadline = [], time.time() + 60
    while not workers and time.time() < deadline and child.poll() is None:
        workers = children.read_text().split() if children.exists() else []
        time.sleep(0.02)
    assert workers, "prepare never started a worker"
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.time() + 10
    alive = workers
    while alive and time.time() < deadline:
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
        time.sleep(0.1)
    for pid in alive:
        os.kill(int(pid), signal.SIGKILL)
    assert not alive, f"workers {alive} outlived a kill -9 of prepare"


def test_a_damaged_line_in_the_middle_of_results_is_repaired_by_a_rerun(finished_run, capsys):
    out, run = finished_run
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    assert len(lines) == 2
    results.write_text(lines[0][:30] + "#garbage\n" + lines[1] + "\n")
    code, _, err = run_main(capsys, "report", out)
    assert code == 2 and "line 1 is not valid JSON" in err and "to repair the run" in " ".join(err.split())
    code, _, err = run()
    assert code == 0, err
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["test"] for r in rows) == ["FaceSwap", "NeuralTextures"]  # the damaged cell was scored again
    assert "#garbage" in (out / "results.corrupt.jsonl").read_text()  # kept, not lost
    code, _, err = run_main(capsys, "report", out)
    assert code == 0, err
    code, _, err = run()  # and the next rerun has nothing to repair or score
    assert code == 0 and len(results.read_text().splitlines()) == 2


def test_a_full_disk_while_checkpointing_says_so(tmp_path, capsys, tiny_backbone, monkeypatch):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
    write = benchmark.files._write_bytes

    def full_for_checkpoints(tmp, data):
        if ".checkpoint_epoch_" in tmp:  # the kernel's own ENOSPC, as a full disk gives it
            with open("/dev/full", "wb") as f:
                f.write(data)
        write(tmp, data)

    monkeypatch.setattr(benchmark.files, "_write_bytes", full_for_checkpoints)
    out = tmp_path / "run"
    result = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, *tiny_args(tiny_backbone, 2))
    assert_refused(result, f"disk full writing {out / 'clip-adapter/train-FaceSwap/seed-42/checkpoint_epoch_1.pth'}; "
                           "free some space, then rerun")
    assert not [p for p in out.rglob(".checkpoint*")]  # no temporary file left


def test_a_comparison_never_writes_into_a_run_dir(finished_run, capsys, tmp_path):
    out, _ = finished_run
    report = (out / "report.md").read_text()
    assert_refused(run_main(capsys, "report", out, out, "--out", out), f"--out {out} is inside the run dir {out}")
    assert_refused(run_main(capsys, "report", out, out, "--out", out / "cmp"), "is inside the run dir")
    assert (out / "report.md").read_text() == report
    code, _, err = run_main(capsys, "report", out, "--out", out)  # one run into its own dir: the default
    assert code == 0, err
