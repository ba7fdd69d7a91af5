"""--executor ray on a local Ray cluster (2 CPUs, started once for this module): the same results as
the local executor, retries when a worker dies, one line when a task keeps failing, Ctrl-C
leaves a run that resumes, and clear refusals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch

from benchmark.environment import installed
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl
from benchmark.report.runs import in_suite_order
from benchmark.run.ray_tasks import check_installed
from benchmark.run.results import cell_dir, cell_key
from benchmark_plugins.detectors.shortcut_probe import ShortcutProbe

from conftest import assert_refused, interruptible, make_class_folders, run_main, write_suite

pytestmark = pytest.mark.slow  # end-to-end runs: `python -m pytest -m "not slow"` leaves them out

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}
MATRIX = "pairings: {matrix: [FaceSwap, NeuralTextures]}\nseeds: [1]\n"


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs; the test module's detectors travel to workers by value."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_class_folders(tmp_path_factory.mktemp("ray") / "data", CLASSES, videos=20)


class Misbehaving(ShortcutProbe):
    """The shortcut probe, except that fitting can kill its own process (as an OOM kill or a lost
    node would), raise, or checkpoint ``epochs`` times and wait after the first while a file exists
    (a long training run, to interrupt)."""

    def __init__(self, die: str = "never", marker: str = "", hold: str = "", epochs: int = 0):
        super().__init__()
        self.die, self.marker, self.hold, self.epochs = die, marker, hold, epochs

    def fit(self, train, val, ctx):
        if self.marker:
            with open(self.marker, "a") as attempts:
                attempts.write("fit\n")
        if self.die == "always" or (self.die == "once" and _first(self.marker + ".died")):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.die == "raise":
            raise ValueError("this detector cannot fit")
        super().fit(train, val, ctx)
        for epoch in range(ctx.resume.epoch + 1 if ctx.resume else 1, self.epochs + 1):
            ctx.save_checkpoint(epoch, {"loss": 0.0}, resume={"epoch": epoch})
            if self.die == "after-epoch" and _first(self.marker + ".died"):
                os.kill(os.getpid(), signal.SIGKILL)
            while self.hold and Path(self.hold).exists():
                time.sleep(0.1)


def _first(path: str) -> bool:
    """True for exactly one caller, across processes."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


class Plugin:
    @staticmethod
    @hookimpl
    def register_detectors(register):
        register("misbehaving", Misbehaving)


@pytest.fixture
def misbehaving(registered):
    registered(Plugin, "ray-test-detectors")


def _rows(out: Path) -> dict:
    return {(r["detector"], r["train"], r["test"], r["seed"]): r
            for r in map(json.loads, (out / "results.jsonl").read_text().splitlines()) if r["perturbation"] == "none"}


def _cells(out: Path) -> dict:
    return {cell_key(r): r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def _report_body(out: Path) -> str:
    """report.md without the lines that say where and when it ran."""
    skip = ("- **started**", "- **finished**", "- **device**", "- **command**")
    return "\n".join(line for line in (out / "report.md").read_text().replace(str(out), "OUT").splitlines()
                     if not line.startswith(skip))


def test_ray_run_matches_local(cluster, data, tiny_backbone, tmp_path, capsys):
    """A 2 x 2 suite, clean and JPEG-degraded, frozen-encoder and pixel detectors: every number,
    prediction and report line the same as the local executor's (same seeds, same float16
    embeddings, same torch threads)."""
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n{MATRIX}"
                        f"detectors:\n  clip-adapter: {{backbone: {tiny_backbone}, pretrained: none, epochs: 3}}\n"
                        "  pixel-cnn: {size: 32, channels: 8, epochs: 2}\nperturbations: [none, 'jpeg:50']\n")
    outs, console, threads = {}, {}, torch.get_num_threads()
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / executor
        # decoding processes change nothing; torch threads do change a CNN's bits on the CPU, and a
        # Ray CPU task trains with one
        workers = ["--workers", "1", "--threads", "1"] if executor == "local" else []
        code, console[executor], err = run_main(capsys, "run", suite, "--output-dir", outs[executor], *workers,
                                                "--cache-dir", tmp_path / f"cache-{executor}", "--executor", executor)
        assert code == 0, err
    # the workers' progress bars are drawn by the driver, as a local run draws its own
    for bar in ("train clip-adapter on NeuralTextures (seed 1)", "score pixel-cnn: FaceSwap -> NeuralTextures"):
        assert bar in console["ray"] and bar in console["local"], bar
    local, remote = _cells(outs["local"]), _cells(outs["ray"])
    assert len(local) == 16 and local == remote
    for detector, train, test, seed, perturbation in local:
        cell = cell_dir(Path(), detector, train, seed, test, perturbation) / "test_predictions.csv"
        pd.testing.assert_frame_equal(pd.read_csv(outs["local"] / cell), pd.read_csv(outs["ray"] / cell))
    assert _report_body(outs["local"]) == _report_body(outs["ray"])
    assert json.loads((outs["local"] / "meta.json").read_text())["executor"]["threads"] == 1
    assert torch.get_num_threads() == threads  # set for the run only
    meta = json.loads((outs["ray"] / "meta.json").read_text())
    assert meta["executor"]["kind"] == "ray" and meta["executor"]["cpus"] == 2 and meta["executor"]["threads"] == 1
    assert meta["device"].startswith("Ray (")
    # the embeddings the workers made went to the driver's cache: a rerun elsewhere encodes nothing
    assert meta["features"]["images_encoded"] > 0
    code, out, err = run_main(capsys, "run", suite, "--output-dir", tmp_path / "again", "--workers", "0",
                              "--cache-dir", tmp_path / "cache-ray", "--executor", "ray")
    assert code == 0, err
    assert json.loads((tmp_path / "again" / "meta.json").read_text())["features"]["images_encoded"] == 0
    assert _cells(tmp_path / "again") == remote


def test_pseudo_fakes_on_ray_match_local(cluster, tiny_backbone, tmp_path, capsys):
    """train: sbi with a frozen-feature detector (fixed blends encoded by Ray tasks) and a pixel
    detector (fresh blends made in the task's decoding): the same cells as the local executor."""
    from benchmark.pseudo.drawn import make_face_videos

    data = make_face_videos(tmp_path / "data", {"Real": (0, 0, 0), "Fake": (40, -20, 0)}, videos=12, frames=2, size=32)
    suite = write_suite(tmp_path / "s.yaml", f"name: p\ndata: {{root: {data}, real: Real}}\n"
                        "pairings: [{train: sbi, test: [Fake]}]\ngenerators: {sbi: {per_image: 2}}\ndetectors:\n"
                        f"  clip-linear-probe: {{backbone: {tiny_backbone}, pretrained: none}}\n"
                        "  pixel-cnn: {size: 16, channels: 4, epochs: 2}\n")
    outs = {}
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / executor
        workers = ["--workers", "1", "--threads", "1"] if executor == "local" else []
        code, _, err = run_main(capsys, "run", suite, "--output-dir", outs[executor], *workers,
                                "--cache-dir", tmp_path / f"cache-{executor}", "--executor", executor)
        assert code == 0, err
    assert _cells(outs["local"]) == _cells(outs["ray"]) and len(_cells(outs["local"])) == 2


def test_worker_killed_mid_run_is_retried_with_the_same_results(cluster, misbehaving, data, tmp_path, capsys):
    """One training run's worker is killed after its first epoch: it is tried again from that
    epoch's checkpoint, every other cell is kept, and the results equal a run where nothing died."""
    def suite(name: str, die: str) -> Path:
        return write_suite(tmp_path / f"{name}.yaml", f"name: {name}\ndata: {{root: {data}, real: Real_youtube}}\n"
                           f"{MATRIX}detectors: {{probe: {{use: misbehaving, die: {die}, epochs: 2, "
                           f"marker: {tmp_path / name}.attempts}}}}\n")

    code, _, err = run_main(capsys, "run", suite("killed", "after-epoch"), "--output-dir", tmp_path / "killed",
                            "--executor", "ray", "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    assert (tmp_path / "killed.attempts.died").exists()
    assert (tmp_path / "killed.attempts").read_text().count("fit") == 3  # two training runs, one of them twice
    logs = [p.read_text() for p in (tmp_path / "killed" / "probe").glob("train-*/seed-1/run.log")]
    assert sum("resumed after epoch 1" in log for log in logs) == 1
    assert "its worker died" in (tmp_path / "killed" / "run.log").read_text()
    code, _, err = run_main(capsys, "run", suite("calm", "never"), "--output-dir", tmp_path / "calm",
                            "--executor", "local", "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    killed, calm = _rows(tmp_path / "killed"), _rows(tmp_path / "calm")
    assert len(killed) == 4 and killed == calm


def test_task_that_keeps_failing_stops_the_run_in_one_line(cluster, misbehaving, data, tmp_path, capsys):
    """A training run whose worker dies on every try (1 + 2 retries) stops the run with one line
    naming it and its cells, after the other detector's runs finished and were written."""
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\nseeds: [1]\n"
                        f"detectors:\n  steady: {{use: misbehaving}}\n"
                        f"  doomed: {{use: misbehaving, die: always, marker: {tmp_path / 'attempts'}}}\n")
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--cache-dir",
                            tmp_path / "cache")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "training run doomed on FaceSwap (seed 1) (cells FaceSwap, NeuralTextures)" in err
    assert "died 3 times" in " ".join(err.split())
    assert (tmp_path / "attempts").read_text().count("fit") == 3  # bounded retries
    assert {key[0] for key in _rows(out)} == {"steady"}
    assert "failed on the Ray cluster" in (out / "run.log").read_text()


def test_detector_error_on_a_worker_is_one_line_with_its_log_in_the_run_dir(cluster, misbehaving, data, tmp_path,
                                                                             capsys):
    """A detector raising in fit is not retried (it would fail again): one line, as a local run says
    it, naming the run dir's own log, which holds the traceback."""
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap]}]\nseeds: [1]\n"
                        f"detectors: {{broken: {{use: misbehaving, die: raise, marker: {tmp_path / 'attempts'}}}}}\n")
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--cache-dir",
                            tmp_path / "cache")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    log = out / "broken" / "train-FaceSwap" / "seed-1" / "run.log"
    assert ("detector broken failed in fit (train FaceSwap, seed 1, epoch 1): ValueError: this detector cannot fit; "
            f"traceback in {log}") in " ".join(err.split())
    assert "Traceback" in log.read_text() and "this detector cannot fit" in (out / "run.log").read_text()
    assert (tmp_path / "attempts").read_text().count("fit") == 1


def test_ctrl_c_cancels_tasks_and_the_run_resumes(cluster, misbehaving, data, tmp_path, capsys):
    """SIGINT to `benchmark run --executor ray --address ...` while one training run is still going:
    exit 130, finished cells kept, the checkpoint its worker sent kept, the dir unlocked; the same
    command then resumes that run after its checkpointed epoch and finishes."""
    hold = tmp_path / "hold"
    hold.touch()
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\nseeds: [1]\n"
                        f"detectors:\n  quick: {{use: misbehaving}}\n  slow: {{use: misbehaving, hold: {hold}, epochs: 2}}\n")
    out = tmp_path / "out"
    # the subprocess sees the test detector through a plugin module on its path
    (tmp_path / "ray_test_plugin.py").write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom test_ray import Plugin\n" % str(Path(__file__).parent))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys, ray_test_plugin\nfrom benchmark import plugins\n"
               "plugins.get_manager().register(ray_test_plugin.Plugin, name='ray-test-detectors')\n"
               "import ray; ray.cloudpickle.register_pickle_by_value(sys.modules['test_ray'])\n"
               "from benchmark.cli import main\nsys.exit(main())",
               "run", str(suite), "--output-dir", str(out), "--executor", "ray", "--address", cluster,
               "--cache-dir", str(tmp_path / "cache")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)
    slow = out / "slow" / "train-FaceSwap" / "seed-1"

    def quick_done_and_slow_held() -> bool:  # quick's cells written, slow's first epoch sent
        rows = _rows(out) if (out / "results.jsonl").exists() else {}
        return len(rows) == 2 and (slow / "checkpoint_epoch_1.pth").exists()

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not quick_done_and_slow_held():
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()  # never left running if it did not stop
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert set(_rows(out)) == {("quick", "FaceSwap", "FaceSwap", 1), ("quick", "FaceSwap", "NeuralTextures", 1)}
    assert (slow / "checkpoint_epoch_1.pth").exists() and not (slow / "final_model.pth").exists()
    hold.unlink()
    code, _, err = run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--cache-dir",
                            tmp_path / "cache")
    assert code == 0, err
    assert len(_rows(out)) == 4
    assert json.loads((out / "meta.json").read_text())["resumes"][-1]["kind"] == "resume"
    assert "resumed after epoch 1" in (slow / "run.log").read_text()


def test_models_trained_locally_are_tested_on_ray(cluster, data, tmp_path, capsys):
    """--mode test on Ray scores the final models a local --mode train left (they travel to the
    workers): the same cells as a local run doing both."""
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n{MATRIX}"
                        "detectors: {shortcut-probe: {}}\n")
    for out, mode, executor in (("split", "train", "local"), ("split", "test", "ray"), ("whole", "both", "local")):
        code, _, err = run_main(capsys, "run", suite, "--output-dir", tmp_path / out, "--mode", mode,
                                "--executor", executor, "--cache-dir", tmp_path / "cache")
        assert code == 0, err
    assert len(_cells(tmp_path / "split")) == 4 and _cells(tmp_path / "split") == _cells(tmp_path / "whole")


def test_executor_ray_without_ray_is_one_line(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n{MATRIX}"
                        "detectors: {shortcut-probe: {}}\n")
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray"),
                   "--executor ray needs Ray, which is not installed: pip install -e '.[ray]'", out)


def test_executor_options_are_checked_before_anything_is_written(data, tmp_path, capsys):
    suite = write_suite(tmp_path / "s.yaml", f"name: t\ndata: {{root: {data}, real: Real_youtube}}\n{MATRIX}"
                        "detectors: {shortcut-probe: {}}\n")
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, "--address", "auto"),
                   "--address joins a Ray cluster: pass --executor ray with it", out)
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--device", "cuda:1"),
                   "--device cuda:1 picks one GPU of this machine; with --executor ray every task gets a GPU", out)
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--address", "127.0.0.1:1"),
                   "--address 127.0.0.1:1: no Ray cluster answers there (Connection refused)", out)
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, "--executor", "ray", "--device", "cuda"),
                   "--device cuda: the Ray cluster has no GPUs; use --device auto or cpu", out)


def test_a_node_with_other_versions_is_refused():
    """Workers check that they run the driver's versions of the harness, its libraries and the
    detectors' packages: a node that differs would mix two experiments."""
    here = installed(["torch", "forgery-benchmark"])
    check_installed(here)
    with pytest.raises(BenchmarkError, match=r"has torch .* \(driver: 0\.0\.1\); install the same versions on every node"):
        check_installed({**here, "torch": "0.0.1"})


def test_report_orders_rows_as_the_suite_does():
    """A Ray run appends cells as they finish; its report lists them in the suite's order."""
    suite = {"detectors": {"b": {}, "a": {}}, "pairings": [{"train": "Y", "test": ["Y", "X"]}, {"train": "X", "test": "X"}],
             "seeds": [2, 1], "perturbations": ["none", "jpeg:50"]}
    rows = [{"detector": d, "train": t, "test": s, "seed": seed, "perturbation": p}
            for d in "ab" for t in "XY" for s in "XY" for seed in (1, 2) for p in ("jpeg:50", "none")]
    ordered = in_suite_order(rows, suite)
    assert [(r["detector"], r["train"], r["test"], r["seed"], r["perturbation"]) for r in ordered[:3]] == [
        ("b", "Y", "Y", 2, "none"), ("b", "Y", "Y", 2, "jpeg:50"), ("b", "Y", "Y", 1, "none")]
    assert len(ordered) == len(rows)
