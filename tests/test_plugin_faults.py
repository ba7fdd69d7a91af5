"""Catalogue, part 5: plugins fail alone. A broken package is listed, not fatal; a detector that
raises (or gives NaN) stops the run with one line naming where, keeping every finished cell."""

import json
from types import SimpleNamespace

import pytest

from benchmark import plugins
from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.clip_adapter import ClipAdapter

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}
TWO_TRAININGS = ("name: t\ndata: {real: Real_youtube}\n"
                 "pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}, {train: NeuralTextures, test: [FaceSwap]}]\n")


class FailsOnSecondFit(ClipAdapter):
    """The reference detector, except that its second training run raises in epoch 2."""

    fits = 0

    def fit(self, train, val, ctx):
        FailsOnSecondFit.fits += 1
        if FailsOnSecondFit.fits == 2:
            ctx.save_checkpoint = _raising_after(ctx.save_checkpoint, epoch=1)
        super().fit(train, val, ctx)


def _raising_after(save, epoch):
    def wrapped(e, stats, resume=None):
        save(e, stats, resume)
        if e == epoch:
            raise RuntimeError("boom")
    return wrapped


class NanLoss(ClipAdapter):
    def fit(self, train, val, ctx):
        ctx.save_checkpoint(1, {"train_loss": float("nan")})


class Detectors:
    @staticmethod
    @hookimpl
    def register_detectors(register):
        register("fails", FailsOnSecondFit)
        register("nan", NanLoss)


@pytest.fixture
def registered():
    manager = plugins.get_manager()
    manager.register(Detectors, name="faulty-detectors")
    FailsOnSecondFit.fits = 0
    yield
    manager.unregister(Detectors)


@pytest.fixture
def data(tmp_path):
    return make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)


def test_exception_in_fit_names_detector_set_seed_epoch_and_keeps_finished_cells(capsys, tmp_path, data, registered,
                                                                                   tiny_backbone):
    suite = write_suite(tmp_path / "suite.yaml", TWO_TRAININGS + f"detectors: {{fails: {{backbone: {tiny_backbone}, "
                        "pretrained: none, epochs: 3}}\n")
    out = tmp_path / "run"
    result = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0")
    assert_refused(result, "detector fails failed in fit (train NeuralTextures, seed 42, epoch 2): RuntimeError: boom; "
                           "traceback in")
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["train"], r["test"]) for r in rows] == [("FaceSwap", "FaceSwap"), ("FaceSwap", "NeuralTextures")]
    assert "Traceback" in (out / "fails/train-NeuralTextures/seed-42/run.log").read_text()
    assert "Traceback" in (out / "run.log").read_text()
    assert "FaceSwap" in (out / "report.md").read_text()  # the report covers the finished cells

    FailsOnSecondFit.fits = 0
    debug = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / "again", "--workers", "0",
                     "--debug")
    assert debug[0] == 2 and "Traceback" in debug[2] and "RuntimeError: boom" in debug[2]


def test_nan_loss_is_a_detector_error(capsys, tmp_path, data, registered, tiny_backbone):
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE.replace("clip-adapter: {}", f"nan: {{backbone: {tiny_backbone}, "
                                                                    "pretrained: none}"))
    result = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / "run", "--workers", "0")
    assert_refused(result, "detector nan failed in fit (train FaceSwap, seed 42, epoch 1): FloatingPointError: "
                           "train_loss=nan in epoch 1")


def test_plugin_that_fails_to_import_is_listed_and_breaks_only_runs_that_need_it(capsys, tmp_path, monkeypatch):
    manager = plugins.Manager()
    broken = SimpleNamespace(name="their-detector", value="their_package.plugin", dist=None,
                             load=lambda: __import__("their_package_that_is_not_installed"))
    manager._load(broken)
    monkeypatch.setattr(plugins, "_manager", manager)

    code, stdout, _ = run_main(capsys, "plugins")
    assert code == 0 and "broken" in stdout and "ModuleNotFoundError" in " ".join(stdout.split())
    assert "clip-adapter" in stdout  # the others still load

    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    assert run_main(capsys, "validate", suite)[0] == 0
    needs_it = write_suite(tmp_path / "theirs.yaml", SEED_SUITE.replace("clip-adapter: {}", "their-detector: {}"))
    assert_refused(run_main(capsys, "validate", needs_it),
                   "unknown detector 'their-detector'")
    assert "plugin their-detector (their_package.plugin) is broken (import failed: ModuleNotFoundError" in \
        " ".join(run_main(capsys, "validate", needs_it)[2].split())


def test_plugin_with_a_misspelled_hook_is_listed_as_broken(capsys, monkeypatch):
    class Misspelled:
        @staticmethod
        @hookimpl
        def register_detector(register):  # not a hook: register_detectors
            register("x", ClipAdapter)

    manager = plugins.Manager()
    manager.register(Misspelled, name="misspelled")
    monkeypatch.setattr(plugins, "_manager", manager)
    found = plugins.collect()
    assert found.broken and found.broken[0][0] == "misspelled" and "register_detector" in found.broken[0][1]
    assert found.detectors.get("clip-adapter")


def test_hook_that_raises_loses_only_its_own_names(registered):
    class Raises:
        @staticmethod
        @hookimpl
        def register_metrics(register):
            raise ValueError("bad metric module")

    manager = plugins.get_manager()
    manager.register(Raises, name="raising")
    try:
        found = plugins.collect()
    finally:
        manager.unregister(Raises)
    assert ("raising", "register_metrics failed: ValueError: bad metric module") in found.broken
    assert found.metrics.get("auc") and found.detectors.get("fails")
