"""Issue 18, what a new user expects to read: training curves as data and a figure, every option's
resolved value, ROC figures that name what they show, a report without noise, and plain progress
lines when the console is not a terminal."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from benchmark.report.fabricate import fabricate_run
from benchmark.report.figures import draw_roc
from benchmark.run.identity import compare

from conftest import SEED_SUITE, make_class_folders, run_main, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


@pytest.fixture
def finished(tmp_path, capsys, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE + "seeds: [1, 2]\n")
    out = tmp_path / "run"
    code, stdout, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out,
                                 *tiny_args(tiny_backbone, 3))
    assert code == 0, err
    return out, stdout


def test_each_training_run_writes_its_curve_and_the_report_draws_it(finished):
    out, _ = finished
    for seed in (1, 2):
        curve = pd.read_csv(out / f"clip-adapter/train-FaceSwap/seed-{seed}/epochs.csv")
        assert list(curve["epoch"]) == [1, 2, 3]
        assert {"train_loss", "val_loss", "val_auc", "selected"} <= set(curve.columns)
        row = json.loads((out / "results.jsonl").read_text().splitlines()[0 if seed == 1 else 2])
        assert list(curve.loc[curve["selected"], "epoch"]) == [row["selected_epoch"]]  # the epoch kept on val
    assert (out / "figures" / "training_clip-adapter.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "figures/training_clip-adapter.png" in report
    cells = report[report.index("## clip-adapter: all cells"):]
    assert "| selected epoch | threshold |" in cells.splitlines()[2]


def test_every_option_is_recorded_with_its_resolved_value(finished):
    out, _ = finished
    meta = json.loads((out / "meta.json").read_text())["detectors"]["clip-adapter"]
    assert meta["options"]["hidden_dim"] == 256 and meta["options"]["epochs"] == 3  # a default and a set one
    assert "hidden_dim" not in meta["set"] and meta["set"]["epochs"] == 3
    identity = json.loads((out / "identity.json").read_text())["detectors"]["clip-adapter"]
    assert identity["options"]["dropout"] == 0.1 and "dropout" in identity["defaults"]


def test_an_identity_recorded_before_defaults_were_is_the_same_run():
    new = {"harness": "1", "settings": {}, "data": {}, "seeds": [1], "cells": {}, "metrics": [],
           "detectors": {"d": {"use": "d", "options": {"epochs": 3, "c": 1.0}, "defaults": ["c"], "plugin": "p"}}}
    old = json.loads(json.dumps(new))
    del old["detectors"]["d"]["defaults"]
    del old["detectors"]["d"]["options"]["c"]
    assert compare(old, new) == ([], [])
    old["detectors"]["d"]["options"]["c"] = 0.5  # set then, at another value: another experiment
    assert compare(old, new)[0] == ["detectors.d.c: 0.5 -> 1.0"]


def test_a_comparison_labels_with_values_not_null(tmp_path, capsys, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE.replace("clip-adapter: {}", "shortcut-probe: {}"))
    for name, extra in (("a", []), ("b", ["--set", "detectors.shortcut-probe.c=0.5"])):
        code, _, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / name, *extra)
        assert code == 0, err
    code, out, err = run_main(capsys, "report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "cmp")
    assert code == 0, err
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "shortcut-probe (c=1.0)" in report and "shortcut-probe (c=0.5)" in report and "null" not in report


def test_roc_curves_carry_their_name_and_auc():
    fig, ax = plt.subplots()
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    assert draw_roc(ax, labels, scores, "clip-adapter", threshold=0.5) == 0.75
    ax.legend()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["clip-adapter (AUC 0.750)"]
    plt.close(fig)


@pytest.mark.parametrize("probe, warned", [((0.0, 0.0), False), ((3.0, 3.0), True)])
def test_shortcut_warnings_only_for_a_probe_that_is_good(tmp_path, capsys, probe, warned):
    out = fabricate_run(tmp_path / "run", classes=("A", "B"), detectors=("alpha", "shortcut-probe"), seeds=(1,),
                        frames=4, test_videos=30, separation={"alpha": (0.0, 0.0), "shortcut-probe": probe})
    code, stdout, err = run_main(capsys, "report", out)
    assert code == 0, err
    assert ("## Shortcut check" in (out / "report.md").read_text()) is warned
    assert ("shortcut warning" in stdout) is warned


def test_prompts_are_listed_only_for_detectors_that_read_them(tmp_path, capsys, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE.replace(
        "clip-adapter: {}", f"clip-adapter: {{backbone: {tiny_backbone}, pretrained: none, epochs: 1}}, "
        f"clip-linear-probe: {{backbone: {tiny_backbone}, pretrained: none}}"))
    code, _, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / "run", "--workers", "0")
    assert code == 0, err
    detectors = json.loads((tmp_path / "run" / "meta.json").read_text())["detectors"]
    assert "prompts" in detectors["clip-adapter"] and "prompts" not in detectors["clip-linear-probe"]


def test_paired_tables_come_after_the_matrices(tmp_path, capsys):
    out = fabricate_run(tmp_path / "run", classes=("A", "B"), detectors=("alpha", "beta"), seeds=(1,), frames=4,
                        test_videos=30)
    assert run_main(capsys, "report", out)[0] == 0
    report = (out / "report.md").read_text()
    assert report.index("## beta: all cells") < report.index("## Paired difference")


def test_without_a_terminal_each_finished_step_is_one_plain_line(finished):
    _, stdout = finished  # captured: not a terminal
    lines = [" ".join(line.split()) for line in stdout.splitlines()]
    trained = [line for line in lines if line.startswith("trained clip-adapter on FaceSwap (seed")]
    cells = [line for line in lines if line.startswith("cell clip-adapter: FaceSwap -> ")]
    assert len(trained) == 2 and "val AUC" in trained[0] and trained[0].endswith(" s)")
    assert len(cells) == 4 and "AUC" in cells[0] and ", seed 1: " in cells[0]
