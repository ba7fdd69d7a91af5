"""Reports of real runs, driven through the CLI as a user does: images on disk, training, scoring,
then `benchmark report` on the finished run."""

import json

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import make_class_folders, run_main, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (40, -20, 0), "NeuralTextures": (-20, 0, 40)}
SUITE = ("name: r\ndata: {real: Real_youtube, split: {train: 0.3, val: 0.2, test: 0.5}}\n"
         "pairings: {matrix: [FaceSwap, NeuralTextures]}\ndetectors: {clip-adapter: {}, shortcut-probe: {}}\n"
         "report: {bootstrap: 300}\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_backbone):
    """The same study on a small and a large data set (videos of one frame), the large one with
    video scores taken as the max over frames."""
    base = tmp_path_factory.mktemp("report-cli")
    suite = write_suite(base / "suite.yaml", SUITE)
    out = {}
    for name, videos, frames in (("small", 8, 2), ("large", 48, 2)):
        data = make_class_folders(base / f"data-{name}", CLASSES, videos=videos, frames=frames, modes=[("png", "RGB")])
        out[name] = base / name
        extra = ["--set", "data.video_score=max"] if name == "large" else []
        from benchmark.cli import main

        assert main(["run", str(suite), "--data-dir", str(data), "--output-dir", str(out[name]),
                     *tiny_args(tiny_backbone), *extra]) == 0
    return out


@pytest.mark.slow
def test_intervals_are_narrower_on_a_larger_test_set(runs):
    small, large = (pd.read_csv(runs[n] / "results.csv") for n in ("small", "large"))
    assert set(small["system"]) == {"clip-adapter", "shortcut-probe"}
    width = {n: (t["video_auc_hi"] - t["video_auc_lo"]).mean() for n, t in (("small", small), ("large", large))}
    assert width["small"] > 1.5 * width["large"] > 0
    assert (large["n_real_videos"] == 24).all() and (small["n_real_videos"] == 4).all()


def test_video_score_choice_is_recorded_shown_and_reproducible_from_predictions(runs):
    meta = json.loads((runs["large"] / "meta.json").read_text())
    assert meta["video_score"] == "max"
    assert "take the max of each video's frame scores" in (runs["large"] / "report.md").read_text()
    tidy = pd.read_csv(runs["large"] / "results.csv")
    row = tidy.iloc[0]
    predictions = pd.read_csv(runs["large"] / row["detector"] / f"train-{row['train']}" / f"seed-{row['seed']}" /
                              f"test-{row['test']}" / "test_predictions.csv")
    videos = predictions.groupby(["class", "video"]).agg(label=("label", "first"), score=("score", "max"))
    assert row["video_auc"] == pytest.approx(roc_auc_score(videos.label, videos.score), abs=1e-9)


def test_the_run_prints_and_writes_the_leaderboard_and_report_rebuilds_it(runs, capsys):
    text = (runs["small"] / "report.md").read_text()
    assert text.index("## Leaderboard: AUC") < text.index("## clip-adapter: AUC")
    assert "![clip-adapter: auc](figures/heatmap_clip-adapter_auc.png)" in text
    code, out, err = run_main(capsys, "report", runs["small"])
    assert code == 0, err
    assert (runs["small"] / "report.md").read_text() == text  # deterministic: the same report again
    assert "Leaderboard: AUC" in out and f"report: {runs['small'] / 'report.md'}" in " ".join(out.split())


def test_two_runs_on_different_data_are_refused(runs, capsys, tmp_path):
    code, _, err = run_main(capsys, "report", runs["small"], runs["large"], "--out", tmp_path / "cmp")
    assert code == 2 and "small vs large: test set FaceSwap holds different images" in " ".join(err.split())
    assert not (tmp_path / "cmp").exists()
