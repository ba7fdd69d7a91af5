"""`benchmark report`: intervals, the leaderboard, paired comparisons, figures, exports, rescoring.

Most tests use a fabricated run (made-up scores in exactly the layout `benchmark run` writes), so the
statistics can be checked against known truths in milliseconds; test_report_cli.py drives real runs.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve

from benchmark.hookspecs import hookimpl
from benchmark.metrics import Metric
from benchmark.report.compare import delong_p
from benchmark.report.fabricate import fabricate_run

from conftest import assert_refused, run_main

SMALL = dict(classes=("A", "B"), detectors=("alpha", "beta"), seeds=(1,), frames=4, test_videos=30)


@pytest.fixture
def run(tmp_path):
    return fabricate_run(tmp_path / "run", **SMALL)


def report(capsys, *args):
    return run_main(capsys, "report", *args, "--bootstrap", "200")


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_report_opens_with_the_leaderboard_and_every_cell_has_an_interval(run, capsys):
    code, out, err = report(capsys, run)
    assert code == 0, err
    text = (run / "report.md").read_text()
    assert text.index("## Leaderboard: AUC") < text.index("## alpha: AUC") < text.index(
        "## Paired difference: alpha - beta")  # the numbers before their differences
    board = text[text.index("## Leaderboard: AUC"):text.index("## Leaderboard: video-level AUC")]
    assert "| detector | in-domain (mean) | cross-domain (mean) | gap (in - cross) | worst cross-domain cell | its value |" in board
    cells = text[text.index("## alpha: all cells"):text.index("## beta: AUC")]
    for line in cells.splitlines()[4:8]:  # every metric of every cell: value [low, high]
        assert line.count(" [") == 10, line  # 4 metrics, f1 and accuracy @0.5, 4 video metrics
    assert "**" in text[text.index("## alpha: AUC"):]  # the diagonal is marked
    assert "mean cross-domain" in text and "Leaderboard: AUC" in out and "alpha" in out
    tidy = pd.read_csv(run / "results.csv")
    assert len(tidy) == 8 and {"auc_lo", "auc_hi", "video_eer_lo", "n_real_videos", "threshold"} <= set(tidy)
    assert (tidy["auc_lo"] <= tidy["auc"]).all() and (tidy["auc"] <= tidy["auc_hi"]).all()
    assert "\\toprule" in (run / "leaderboard_auc.tex").read_text()
    assert "\\midrule" in (run / "matrix_alpha_auc.tex").read_text()
    for name in ("heatmap_alpha_auc.png", "roc_test-A.png", "roc_beta_train-B.png"):
        assert f"](figures/{name})" in text
        with Image.open(run / "figures" / name) as image:
            assert image.format == "PNG" and image.size[0] > 200


def test_point_estimates_are_rescored_from_the_predictions_and_match_results(run, capsys):
    assert report(capsys, run)[0] == 0
    tidy = pd.read_csv(run / "results.csv")
    for _, row in tidy.iterrows():
        predictions = pd.read_csv(run / row["detector"] / f"train-{row['train']}" / f"seed-{row['seed']}" /
                                  f"test-{row['test']}" / "test_predictions.csv")
        assert row["auc"] == pytest.approx(roc_auc_score(predictions.label, predictions.score), abs=1e-6)
        videos = predictions.groupby(["class", "video"]).agg(label=("label", "first"), score=("score", "mean"))
        assert row["video_auc"] == pytest.approx(roc_auc_score(videos.label, videos.score), abs=1e-6)


@pytest.mark.slow
def test_the_bootstrap_is_deterministic_for_a_seed(run, capsys, tmp_path):
    assert report(capsys, run)[0] == 0
    first = (run / "results.csv").read_bytes()
    assert report(capsys, run)[0] == 0
    assert (run / "results.csv").read_bytes() == first
    assert report(capsys, run, "--bootstrap-seed", "1")[0] == 0
    assert (run / "results.csv").read_bytes() != first


@pytest.mark.slow
def test_intervals_shrink_as_the_test_set_grows(tmp_path, capsys):
    widths = []
    for videos in (10, 40, 160):
        out = fabricate_run(tmp_path / f"v{videos}", **{**SMALL, "test_videos": videos})
        assert report(capsys, out)[0] == 0
        tidy = pd.read_csv(out / "results.csv")
        widths.append((tidy["video_auc_hi"] - tidy["video_auc_lo"]).mean())
    assert widths[0] > widths[1] > widths[2] > 0


def test_identical_runs_differ_by_exactly_zero(run, capsys, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(run, twin)
    code, out, err = report(capsys, run, twin, "--out", tmp_path / "cmp")
    assert code == 0, err
    text = (tmp_path / "cmp" / "report.md").read_text()
    for name, delong in (("AUC", ""), ("video-level AUC", " 1 |")):
        section = text[text.index(f"## Paired difference: alpha [run] - alpha [twin], {name}"):]
        rows = [line for line in section[:section.index("\n## ")].splitlines() if line.startswith("| ")][1:]
        assert len(rows) == 7  # 4 cells, mean in, mean cross, gap
        for line in rows:  # difference 0, interval [0, 0] (contains 0), no mark, DeLong p = 1 per cell (videos)
            cell = "->" in line
            assert line.endswith(f"| 0.000 | [0.000, 0.000] |  |{delong if cell else (delong and '  |')}"), line
    assert not (run / "cmp").exists() and (tmp_path / "cmp" / "results.csv").exists()


def test_a_better_detector_is_marked_and_delong_agrees(tmp_path, capsys):
    out = fabricate_run(tmp_path / "run", **{**SMALL, "separation": {"alpha": (2.5, 2.5), "beta": (0.2, 0.2)}})
    assert report(capsys, out)[0] == 0
    text = (out / "report.md").read_text()
    section = text[text.index("## Paired difference: alpha - beta, video-level AUC"):]
    rows = [line for line in section.splitlines()[:12] if line.startswith("| A ->") or line.startswith("| B ->")]
    assert rows and all("| * |" in line for line in rows)
    assert all(float(line.rstrip(" |").rsplit("|", 1)[1]) < 1e-3 for line in rows)  # DeLong p


def test_runs_tested_on_different_images_are_refused_unless_forced(run, capsys, tmp_path):
    other = fabricate_run(tmp_path / "other", **{**SMALL, "test_videos": 31})
    before = files(run)
    result = report(capsys, run, other, "--out", tmp_path / "cmp")
    assert_refused(result, "run vs other: test set A holds different images (0 only in the first, 8 only in "
                   "the second, 0 with other content); their numbers are not comparable. Pass --force",
                   tmp_path / "cmp")
    assert files(run) == before
    code, _, err = report(capsys, run, other, "--out", tmp_path / "cmp", "--force")
    assert code == 0, err
    text = (tmp_path / "cmp" / "report.md").read_text()
    assert "not comparable, compared anyway (--force)" in text and "n/a (different test images)" in text


def test_columns_are_labelled_by_what_differs_between_runs(run, capsys, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(run, twin)
    for folder, lr in ((run, 0.001), (twin, 0.01)):
        meta = json.loads((folder / "meta.json").read_text())
        meta["detectors"]["alpha"]["options"] = {"lr": lr, "epochs": 5}
        (folder / "meta.json").write_text(json.dumps(meta))
    code, out, err = report(capsys, run, twin)
    assert code == 0, err
    assert "alpha (lr=0.001)" in out and "alpha (lr=0.01)" in out and "pass --out DIR" in out
    assert report(capsys, run, twin, "--out", tmp_path / "cmp")[0] == 0
    text = (tmp_path / "cmp" / "report.md").read_text()
    assert "## Paired difference: alpha (lr=0.001) - alpha (lr=0.01), AUC" in text
    assert "| beta [twin] |" in text  # the same in both runs: only the folder tells them apart


def test_a_metric_is_added_to_a_finished_run_without_training(run, capsys):
    cells = {k: v for k, v in files(run).items() if k.startswith(("alpha/", "beta/")) or k == "results.jsonl"}
    code, _, err = report(capsys, run, "--metrics", "auc,tpr@1%fpr,balanced_accuracy")
    assert code == 0, err
    tidy = pd.read_csv(run / "results.csv")
    row = tidy.iloc[0]
    predictions = pd.read_csv(run / "alpha/train-A/seed-1/test-A/test_predictions.csv")
    fpr, tpr, _ = roc_curve(predictions.label, predictions.score, drop_intermediate=False)
    assert row["tpr@1%fpr"] == pytest.approx(tpr[fpr <= 0.01].max())
    assert {"tpr@1%fpr_lo", "balanced_accuracy@0.5", "video_tpr@1%fpr"} <= set(tidy)
    text = (run / "report.md").read_text()
    assert "tpr@1%fpr (higher is better)" in text
    assert {k: v for k, v in files(run).items() if k in cells} == cells  # nothing of the run itself changed


class LowerIsBetter:
    @staticmethod
    @hookimpl
    def register_metrics(register):  # no batch form: the bootstrap calls it once per resample
        register(Metric("fpr@95%tpr", lambda y, s: float(roc_curve(y, s)[0][np.argmax(roc_curve(y, s)[1] >= 0.95)]),
                        higher_is_better=False))


def test_a_plugin_metric_direction_comes_from_the_plugin_whatever_its_name(run, capsys, registered):
    registered(LowerIsBetter, "lower_is_better_metric")
    code, _, err = run_main(capsys, "report", run, "--metrics", "auc,fpr@95%tpr", "--bootstrap", "20")
    assert code == 0, err
    text = (run / "report.md").read_text()
    assert "fpr@95%tpr (lower is better)" in text and "video_fpr@95%tpr (lower is better)" in text
    tidy = pd.read_csv(run / "results.csv")
    assert (tidy["fpr@95%tpr_lo"] <= tidy["fpr@95%tpr_hi"]).all()


def test_unknown_metric_is_refused_with_a_suggestion(run, capsys):
    assert_refused(report(capsys, run, "--metrics", "acu"), "--metrics: unknown metric 'acu'")


@pytest.mark.parametrize("fault, message", [
    ("missing", "does not exist or is not a folder; pass the --output-dir of a run"),
    ("not a run", "is not a run directory (no meta.json)"),
    ("empty", "the run has no finished cells yet; run `benchmark run"),
    ("half-written", "line 8 is a half-written last line"),
    ("changed scores", "no longer matches results.jsonl: its scores give AUC"),
    ("fewer images", "no longer matches results.jsonl: 119 real / 120 fake images, results say 120 / 120"),
    ("no predictions", "test_predictions.csv is missing; restore it, or delete that cell's line"),
    ("garbage predictions", "has empty or non-numeric labels or scores"),
])
def test_bad_run_dirs_get_one_line_and_nothing_is_written(run, capsys, tmp_path, fault, message):
    cell = run / "alpha/train-A/seed-1/test-A/test_predictions.csv"
    target = run
    if fault == "missing":
        target = tmp_path / "nowhere"
    elif fault == "not a run":
        (run / "meta.json").unlink()
    elif fault == "empty":
        (run / "results.jsonl").write_text("")
    elif fault == "half-written":
        text = (run / "results.jsonl").read_text()
        (run / "results.jsonl").write_text(text[:-40])
    elif fault == "changed scores":
        table = pd.read_csv(cell)
        table["score"] = table["score"][::-1].to_numpy()
        table.to_csv(cell, index=False)
    elif fault == "fewer images":
        pd.read_csv(cell).iloc[1:].to_csv(cell, index=False)
    elif fault == "no predictions":
        cell.unlink()
    elif fault == "garbage predictions":
        cell.write_text("path,class,video,label,score\nx.png,A,000,1,\n")
    before = files(run) if run.exists() else {}
    assert_refused(report(capsys, target), message)
    assert files(run) == before


def test_delong_matches_the_bootstrap_on_independent_items():
    rng = np.random.default_rng(3)
    labels = (rng.random(4000) < 0.5).astype(int)
    shared = rng.normal(0, 1, 4000)
    a = shared + 1.0 * labels + rng.normal(0, 0.5, 4000)
    b = shared + 0.9 * labels + rng.normal(0, 0.5, 4000)
    assert delong_p(labels, a, a) == 1.0
    differences = []
    for _ in range(300):
        i = rng.integers(0, 4000, 4000)
        differences.append(roc_auc_score(labels[i], a[i]) - roc_auc_score(labels[i], b[i]))
    z_bootstrap = (roc_auc_score(labels, a) - roc_auc_score(labels, b)) / np.std(differences)
    from scipy.stats import norm
    assert delong_p(labels, a, b) == pytest.approx(2 * norm.sf(abs(z_bootstrap)), rel=0.5, abs=1e-4)


def test_load_runs_gives_a_tidy_dataframe(run):
    import benchmark

    frame = benchmark.load_runs([run], bootstrap=50)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 8
    assert {"system", "detector", "train", "test", "seed", "auc", "auc_lo", "auc_hi"} <= set(frame.columns)


def test_log_scale_roc_and_pdf_figures(run, capsys):
    code, _, err = report(capsys, run, "--roc-scale", "log", "--figures", "png,pdf")
    assert code == 0, err
    assert (run / "figures" / "roc_test-A.pdf").read_bytes().startswith(b"%PDF")
    assert_refused(report(capsys, run, "--figures", "gif"), "'report.figures' must list formats among png, pdf, svg")
