"""Catalogue, part 3: a run dir is one experiment. Identity, resume and extend, the lock, folders
that are not run dirs, output trouble and a damaged results file."""

import errno
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from benchmark.run.store import RunStore

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, save_image, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


@pytest.fixture
def setup(tmp_path, tiny_backbone, capsys):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "run"

    def run(*extra, data_dir=data, suite_file=suite, output=out):
        args = ["run", suite_file, *(["--data-dir", data_dir] if data_dir else []),
                *(["--output-dir", output] if output else []), *tiny_args(tiny_backbone), *extra]
        return run_main(capsys, *args)

    code, _, err = run()
    assert code == 0, err
    return tmp_path, data, suite, out, run


def snapshot(out):
    """Every file of the run dir except the ones a resume is expected to touch."""
    volatile = {"meta.json", "report.md", "results.csv", "run.log", ".lock"}
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in volatile and p.suffix != ".tex" and p.parent.name != "figures"}


def rows(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_other_data_dir_is_refused_and_nothing_is_rewritten(setup):
    tmp_path, data, _, out, run = setup
    before = snapshot(out)
    meta = (out / "meta.json").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    assert_refused(run(data_dir=copy), f"holds another experiment: settings.data.root: \"{data}\" -> \"{copy}\"")
    assert snapshot(out) == before and (out / "meta.json").read_bytes() == meta


def test_changed_file_content_is_named(setup):
    _, data, _, out, run = setup
    for i, path in enumerate(sorted((data / "FaceSwap").rglob("*.*"))[:2]):
        save_image(path, np.random.default_rng(9 + i), (0, 99, 0), 30)
    assert_refused(run(), "data: FaceSwap: 2 files changed content")


def test_changed_option_is_named(setup):
    _, _, _, _, run = setup
    assert_refused(run("--set", "detectors.clip-adapter.lr=3.0e-4"), "detectors.clip-adapter.lr: 0.0001 -> 0.0003")
    # YAML 1.1 reads 3e-4 as text; the option's annotation (float) makes it the same number
    assert_refused(run("--set", "detectors.clip-adapter.lr=3e-4"), "detectors.clip-adapter.lr: 0.0001 -> 0.0003")
    assert_refused(run("--set", "selection.epoch=last"), "settings.selection.epoch: \"best\" -> \"last\"")


def test_extend_adds_only_the_new_seed(setup):
    _, _, _, out, run = setup
    before = snapshot(out)
    assert_refused(run("--seeds", "42,7"), "holds a run without seed 7; pass --extend")
    code, _, err = run("--seeds", "42,7", "--extend")
    assert code == 0, err
    assert [(r["test"], r["seed"]) for r in rows(out)] == [
        ("FaceSwap", 42), ("NeuralTextures", 42), ("FaceSwap", 7), ("NeuralTextures", 7)]
    after = snapshot(out)
    assert all(after[name] == content for name, content in before.items()
               if name not in ("identity.json", "suite.yaml", "results.jsonl"))  # finished cells untouched
    assert "± " in (out / "report.md").read_text()  # the report pools both seeds
    meta = json.loads((out / "meta.json").read_text())
    assert meta["resumes"][-1]["kind"] == "extend"


def test_extend_adds_a_test_set_and_a_metric(setup):
    _, _, _, out, run = setup
    code, _, err = run("--set", "metrics=[auc, eer, f1, accuracy, ap]", "--extend")
    assert code == 0, err
    assert len(rows(out)) == 2  # a new metric alone adds no cell: finished cells keep their numbers
    code, _, err = run("--set", "pairings=[{train: FaceSwap, test: [FaceSwap, NeuralTextures]}, "
                       "{train: NeuralTextures, test: [FaceSwap]}]", "--set", "metrics=[auc, eer, f1, accuracy, ap]",
                       "--extend")
    assert code == 0, err
    new = [r for r in rows(out) if r["train"] == "NeuralTextures"]
    assert len(new) == 1 and "ap" in new[0]


def test_saved_suite_reruns_its_own_run_and_meta_records_resumes(setup, capsys):
    _, _, _, out, run = setup
    first = json.loads((out / "meta.json").read_text())
    log = (out / "clip-adapter/train-FaceSwap/seed-42/run.log").read_text()
    code, stdout, err = run(data_dir=None, suite_file=out / "suite.yaml", output=None)  # no --data-dir, no --output-dir
    assert code == 0, err
    assert "resuming (2 cells done, 0 to run)" in " ".join(stdout.split())
    assert (out / "clip-adapter/train-FaceSwap/seed-42/run.log").read_text() == log  # nothing retrained
    # a resume with nothing to do writes only its log line; one that runs something is recorded in meta
    assert json.loads((out / "meta.json").read_text()) == first
    assert "nothing to do (2 cells finished)" in (out / "run.log").read_text()
    code, _, err = run("--set", "seeds=[42, 7]", "--extend", data_dir=None, suite_file=out / "suite.yaml", output=None)
    assert code == 0, err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["started"] == first["started"] and meta["command"] == first["command"]
    assert len(meta["resumes"]) == 1 and "suite.yaml" in meta["resumes"][0]["command"]
    assert "extended:" in (out / "run.log").read_text()


def test_a_second_process_is_refused_naming_the_holder(setup):
    _, _, _, out, run = setup
    holder = RunStore(out)
    holder.lock()
    try:
        assert_refused(run(), f"is in use by another run (PID {os.getpid()}")
    finally:
        holder.unlock()
    (out / ".lock").write_text("999999 elsewhere\n")  # a stale lock: its holder is gone
    code, _, err = run()
    assert code == 0, err


def test_a_folder_that_is_not_a_run_dir_is_refused(capsys, tmp_path, setup):
    _, _, _, _, run = setup
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    assert_refused(run(output=mine), "is not empty and is not a run directory")
    assert (mine / "report.md").read_text() == "my notes"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_refused(run(output=a_file), "is a file, not a folder")
    assert_refused(run(output=a_file / "run"), f"cannot write or read {a_file / 'run'}")


def test_unwritable_cache_dir_is_one_line(setup, tmp_path):
    _, _, _, _, run = setup
    blocker = tmp_path / "cache-file"
    blocker.write_text("x")
    assert_refused(run("--cache-dir", blocker, output=tmp_path / "other"), f"{blocker}", tmp_path / "other")


def test_files_follow_the_umask(setup):
    _, _, _, out, _ = setup
    mask = os.umask(0)
    os.umask(mask)
    for name in ("report.md", "meta.json", "results.jsonl", "clip-adapter/train-FaceSwap/seed-42/final_model.pth"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~mask, name


def test_half_written_last_line_is_reported_and_repaired(setup, capsys):
    _, _, _, out, run = setup
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    results.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # a crash mid-write
    code, _, err = run_main(capsys, "report", out)  # refused: the run must finish that cell first
    assert code == 2 and "line 2 is a half-written last line" in " ".join(err.split())
    assert "run `benchmark run" in " ".join(err.split())
    code, _, err = run()
    assert code == 0, err
    repaired = rows(out)
    assert [r["test"] for r in repaired] == ["FaceSwap", "NeuralTextures"]  # the cut cell ran again, on its own line


def test_disk_full_mid_run_keeps_finished_cells_and_resumes(setup, monkeypatch, tmp_path):
    _, _, _, _, run = setup
    out = tmp_path / "full"
    import benchmark.run.store as store

    real_append = store.append_result
    calls = []

    def append_then_fill(run_dir, row):
        calls.append(row)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "results.jsonl"))
        real_append(run_dir, row)

    monkeypatch.setattr(store, "append_result", append_then_fill)
    result = run(output=out)
    assert_refused(result, f"disk full writing {out / 'results.jsonl'}; free some space")
    assert len(rows(out)) == 1
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]  # no orphaned temporary files
    first_cell = (out / "clip-adapter/train-FaceSwap/seed-42/test-FaceSwap/test_predictions.csv").read_bytes()
    monkeypatch.setattr(store, "append_result", real_append)
    code, _, err = run(output=out)
    assert code == 0, err
    assert [r["test"] for r in rows(out)] == ["FaceSwap", "NeuralTextures"]
    assert (out / "clip-adapter/train-FaceSwap/seed-42/test-FaceSwap/test_predictions.csv").read_bytes() == first_cell


def test_shortcut_flags_set_every_detector_that_has_the_option(setup, tmp_path):
    _, _, _, _, run = setup
    out = tmp_path / "flags"
    code, _, err = run("--epochs", "1", "--lr", "0.01", "--batch-size", "4", "--seeds", "3,4", output=out)
    assert code == 0, err
    saved = (out / "suite.yaml").read_text()
    for text in ("epochs: 1", "lr: 0.01", "batch_size: 4", "- 3\n- 4"):
        assert text in saved, text
    assert sorted({r["seed"] for r in rows(out)}) == [3, 4]


def test_a_refused_demo_rerun_does_not_redraw_the_runs_data(capsys, tmp_path):
    demo = Path(__file__).resolve().parents[1] / "suites" / "demo.yaml"
    out = tmp_path / "demo"
    small = ["--set", "data.synthetic.videos=6", "--set", "detectors={shortcut-probe: {}}", "--workers", "0"]
    code, _, err = run_main(capsys, "run", demo, "--output-dir", out, *small)
    assert code == 0, err
    data = out / "synthetic-data"
    before = {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    assert_refused(run_main(capsys, "run", demo, "--output-dir", out, *small, "--set", "data.synthetic.seed=1"),
                   "holds another experiment: data.synthetic:")
    assert {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()} == before


def test_synthetic_data_redrawn_with_fewer_videos_keeps_no_stale_ones(tmp_path):
    from benchmark.data import synthetic

    synthetic.generate(tmp_path, videos=6, frames=1, size=32)
    synthetic.generate(tmp_path, videos=4, frames=1, size=32)
    assert sorted(p.name for p in (tmp_path / synthetic.REAL).iterdir()) == ["000", "001", "002", "003"]


def test_a_suite_key_added_later_at_its_default_does_not_refuse_resume(setup):
    """Runs made before data.video_score / data.manifest existed resume as the same run."""
    _, _, _, out, run = setup
    identity = json.loads((out / "identity.json").read_text())
    for key in ("video_score", "manifest"):
        del identity["settings"]["data"][key]
    (out / "identity.json").write_text(json.dumps(identity))
    code, _, err = run()
    assert code == 0, err
    assert_refused(run("--set", "data.video_score=max"), "settings.data.video_score: \"mean\" -> \"max\"")  # now recorded
