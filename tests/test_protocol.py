"""FaceForensics++ protocol: official splits by pair, frame sampling, video-level metrics,
selection on validation only, and the leakage / shortcut audit."""

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.data.dataset import OFFICIAL_SPLITS, load_dataset
from benchmark.data.splits import evenly_spaced
from benchmark.detector import Detector, FitContext, Samples
from benchmark.metrics import video_table
from benchmark.run.training import fit_and_select
from benchmark.suite import DataConfig

from conftest import make_class_folders, save_image
from test_cli import cli, tiny

SPLITS_DIR = OFFICIAL_SPLITS  # shipped with the harness
FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def official_pairs():
    assert SPLITS_DIR.is_dir(), f"the official FF++ split files are expected in {SPLITS_DIR}"
    return {split: json.loads((SPLITS_DIR / f"{split}.json").read_text()) for split in ("train", "val", "test")}


def make_ffpp_tree(root: Path, manipulations=("FaceSwap", "NeuralTextures"), frames=1, size=8, ids=None) -> Path:
    """original_sequences/youtube/c23/frames/<id>/ and manipulated_sequences/<M>/c23/frames/<a>_<b>/."""
    rng = np.random.default_rng(0)
    pairs = [p for split in official_pairs().values() for p in split]
    if ids is not None:
        pairs = [p for p in pairs if p[0] in ids]
    real_dir = root / "original_sequences/youtube/c23/frames"
    for a, b in pairs:
        for video in (a, b):
            for f in range(frames):
                save_image(real_dir / video / f"{f:04d}.png", rng, (0, 0, 0), size)
        for m, manipulation in enumerate(manipulations):
            for video in (f"{a}_{b}", f"{b}_{a}"):
                for f in range(frames):
                    save_image(root / f"manipulated_sequences/{manipulation}/c23/frames/{video}/{f:04d}.png",
                               rng, (40 * (m + 1), 0, 0), size)
    return root


def ffpp_config(**options) -> DataConfig:
    return DataConfig(root=None, real="Real_youtube", layout="ffpp", split=FRACTIONS, synthetic=None, **options)


def test_official_split_gives_720_140_140_ids_per_class_and_keeps_pairs_together(tmp_path):
    root = make_ffpp_tree(tmp_path)
    dataset = load_dataset(ffpp_config(), root, ["FaceSwap", "NeuralTextures"], SPLITS_DIR)
    frame = dataset.to_frame()
    for cls in ("Real_youtube", "FaceSwap", "NeuralTextures"):
        videos = frame[frame["class"] == cls].groupby("split")["video"].nunique().to_dict()
        assert videos == {"train": 720, "val": 140, "test": 140}, cls
    # a pair's reals and both its fakes share a split
    for split, pairs in official_pairs().items():
        for a, b in pairs[:25]:
            rows = frame[frame.video.isin([a, b, f"{a}_{b}", f"{b}_{a}"])]
            assert set(rows.split) == {split}
    # no unit (pair) of training data in any test split
    train_units = set(frame[frame.split == "train"].unit)
    assert not train_units & set(frame[frame.split == "test"].unit)


def test_without_split_files_fakes_follow_their_pair(tmp_path):
    ids = {p[0] for split in official_pairs().values() for p in split[:10]}
    root = make_ffpp_tree(tmp_path, ids=ids)
    dataset = load_dataset(ffpp_config(), root, ["FaceSwap", "NeuralTextures"])
    frame = dataset.to_frame()
    split_of = {(r.video): r.split for r in frame[frame["class"] == "Real_youtube"].itertuples()}
    for row in frame[frame["class"] != "Real_youtube"].itertuples():
        a, b = row.video.split("_")
        assert row.split == split_of[a] == split_of[b]
    assert set(frame.split) == {"train", "val", "test"}


def test_frames_per_video_spreads_over_the_whole_video(tmp_path):
    assert evenly_spaced(list(range(32)), 4) == [0, 10, 21, 31]
    assert evenly_spaced(list(range(3)), 4) == [0, 1, 2]
    rng = np.random.default_rng(0)
    for cls in ("Real", "Fake"):
        for v in range(4):
            for f in range(32):
                save_image(tmp_path / cls / f"v{v}" / f"frame_{f}.png", rng, (0, 0, 0), 8)
    config = DataConfig(root=None, real="Real", layout="folders", split=FRACTIONS, synthetic=None, frames_per_video=4)
    dataset = load_dataset(config, tmp_path, ["Fake"])
    chosen = sorted(int(Path(s.path).stem.split("_")[1]) for s in dataset.samples if s.cls == "Real" and s.video == "v0")
    assert chosen == [0, 10, 21, 31]  # natural order: frame_10 comes after frame_9


@pytest.mark.parametrize("how, expected", [
    ("mean", [(0, 0.2), (1, 0.3), (1, 0.8)]),
    ("median", [(0, 0.1), (1, 0.3), (1, 0.8)]),
    ("max", [(0, 0.5), (1, 0.4), (1, 0.9)]),
])
def test_same_fake_id_in_two_manipulations_is_two_videos(how, expected):
    frames = pd.DataFrame({
        "class": ["FaceSwap"] * 2 + ["NeuralTextures"] * 2 + ["Real_youtube"] * 3,
        "video": ["000_003"] * 4 + ["000"] * 3,
        "label": [1, 1, 1, 1, 0, 0, 0], "score": [0.9, 0.7, 0.2, 0.4, 0.1, 0.0, 0.5]})
    videos = video_table(frames, how)
    assert sorted(zip(videos["label"].tolist(), np.round(videos["score"], 6).tolist())) == expected


class ScriptedDetector(Detector):
    """Val AUC is 0.5, then 1.0, then 0.0 over three epochs: selection must keep epoch 2."""

    def __init__(self):
        self.epoch = 0

    def fit(self, train, val, ctx):
        for epoch in (1, 2, 3):
            self.epoch = epoch
            ctx.save_checkpoint(epoch, {})

    def predict(self, samples, ctx):
        labels = samples.labels.astype(float)
        return {1: np.full(len(labels), 0.5), 2: 0.2 + 0.6 * labels, 3: 0.8 - 0.6 * labels}[self.epoch]

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


@pytest.mark.parametrize("rule, expected", [("best", 2), ("last", 3)])
def test_selection_uses_val_auc(tmp_path, rule, expected):
    val = Samples(paths=["a", "b", "c", "d"], labels=np.array([0, 0, 1, 1]))
    ctx = FitContext(device=torch.device("cpu"), seed=0, prompts=None, log=lambda m: None,
                     progress=lambda n: contextlib.nullcontext(lambda **k: None))
    detector = ScriptedDetector()
    selected = fit_and_select(detector, val, val, ctx, tmp_path, rule, "val")
    assert selected.epoch == expected and detector.epoch == expected
    assert selected.history == {1: 0.5, 2: 1.0, 3: 0.0}
    if rule == "best":
        assert 0.2 < selected.threshold <= 0.8  # separates val's 0.2 reals from 0.8 fakes
    assert sorted(p.name for p in tmp_path.glob("checkpoint_epoch_*.pth")) == [
        "checkpoint_epoch_1.pth", "checkpoint_epoch_2.pth", "checkpoint_epoch_3.pth"]


@pytest.fixture(scope="module")
def ffpp_run(tmp_path_factory, tiny_backbone):
    """A small FF++ tree (official ids, 4 frames per video) run end to end with the official splits."""
    base = tmp_path_factory.mktemp("ffpp")
    ids = {p[0] for split in official_pairs().values() for p in split[:6]}
    root = make_ffpp_tree(base / "data", frames=4, size=16, ids=ids)
    suite = base / "ffpp.yaml"
    suite.write_text(
        "name: ffpp-test\n"
        "data: {layout: ffpp, real: Real_youtube, splits: official, frames_per_video: 2}\n"
        "pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\n"
        "detectors: {clip-adapter: {epochs: 4, lr: 0.001}}\n"
    )
    out = base / "run"
    result = cli("run", suite, "--data-dir", root, "--output-dir", out, *tiny(tiny_backbone, epochs=4))
    assert result.returncode == 0, result.stderr
    return base, root, suite, out


@pytest.mark.slow
def test_ffpp_run_reports_video_metrics_and_a_clean_audit(ffpp_run):
    _, _, _, out = ffpp_run
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["n_fake_videos"] == 12 and row["n_real_videos"] == 12  # 6 test pairs
        assert row["n_fake"] == 24  # 2 of 4 frames per video
        assert {"video_auc", "video_eer", "video_accuracy", "accuracy@0.5"} <= set(row)
        assert row["selected_epoch"] in (1, 2, 3, 4)
    audit = json.loads((out / "audit.json").read_text())
    assert all(cell["shared_units"] == 0 for cell in audit["cells"])
    assert all(cell["test_real"] == cell["test_fake"] == 24 for cell in audit["cells"])  # balance per cell
    assert audit["counts"]["FaceSwap"]["test_videos"] == 12
    assert audit["duplicates"] == []
    report = (out / "report.md").read_text()
    assert "video-level AUC" in report and "Leakage and shortcut audit" in report
    splits = pd.read_csv(out / "splits.csv")
    assert set(splits.split) == {"train", "val", "test"}


@pytest.mark.slow
def test_changing_only_test_data_leaves_selection_unchanged(ffpp_run, tmp_path, tiny_backbone):
    base, root, suite, out = ffpp_run
    changed = tmp_path / "data"
    shutil.copytree(root, changed)
    test_ids = {v for pair in official_pairs()["test"] for v in pair}
    rng = np.random.default_rng(7)
    for path in changed.rglob("*.png"):
        if path.parent.name.split("_")[0] in test_ids:
            save_image(path, rng, (0, 90, 0), 16)  # new test content, same names
    again = tmp_path / "run"
    result = cli("run", suite, "--data-dir", changed, "--output-dir", again, *tiny(tiny_backbone, epochs=4))
    assert result.returncode == 0, result.stderr
    final = "clip-adapter/train-FaceSwap/seed-42/final_model.pth"
    first = torch.load(out / final, weights_only=False)["selection"]
    second = torch.load(again / final, weights_only=False)["selection"]
    assert first == second
    scores = [pd.read_csv(run / "clip-adapter/train-FaceSwap/seed-42/test-FaceSwap/test_predictions.csv").score
              for run in (out, again)]
    assert not np.allclose(scores[0], scores[1])  # the test data really changed


@pytest.mark.slow
def test_planted_duplicate_stops_the_run_unless_allowed(tmp_path, tiny_backbone):
    rng = np.random.default_rng(0)
    for cls in ("Real", "Fake"):
        for v in range(8):
            save_image(tmp_path / "data" / cls / f"v{v}" / "0.png", rng, (0, 0, 0), 12)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: dup\ndata: {real: Real}\npairings: [{train: Fake, test: [Fake]}]\n"
                     "detectors: {clip-adapter: {epochs: 1}}\n")
    dataset = load_dataset(DataConfig(root=None, real="Real", layout="folders", split=FRACTIONS, synthetic=None),
                           tmp_path / "data", ["Fake"])
    train = next(s for s in dataset.samples if s.split == "train" and s.cls == "Real")
    test = next(s for s in dataset.samples if s.split == "test" and s.cls == "Fake")
    shutil.copyfile(train.path, test.path)  # the same bytes in train and test

    out = tmp_path / "out"
    stopped = cli("run", suite, "--data-dir", tmp_path / "data", "--output-dir", out, *tiny(tiny_backbone, 1))
    assert stopped.returncode == 2 and "byte-identical" in stopped.stderr and "data.allow_duplicates" in stopped.stderr
    assert test.path in stopped.stderr or train.path in stopped.stderr
    assert not out.exists()

    allowed = cli("run", suite, "--data-dir", tmp_path / "data", "--output-dir", out, *tiny(tiny_backbone, 1),
                  "--set", "data.allow_duplicates=true")
    assert allowed.returncode == 0, allowed.stderr
    audit = json.loads((out / "audit.json").read_text())
    assert len(audit["duplicates"]) == 1
    assert "byte-identical" in (out / "report.md").read_text()


@pytest.mark.slow
def test_format_and_size_shortcuts_are_flagged(tmp_path, tiny_backbone):
    rng = np.random.default_rng(0)
    for v in range(8):
        save_image(tmp_path / "data" / "Real" / f"{v}.jpg", rng, (0, 0, 0), 40)
        save_image(tmp_path / "data" / "GAN" / f"{v}.png", rng, (0, 0, 0), 24)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: shortcut\ndata: {real: Real}\npairings: [{train: GAN, test: [GAN]}]\n"
                     "detectors: {clip-adapter: {epochs: 1}}\n")
    result = cli("run", suite, "--data-dir", tmp_path / "data", "--output-dir", tmp_path / "out", *tiny(tiny_backbone, 1))
    assert result.returncode == 0, result.stderr
    assert "file format alone separates them" in result.stdout
    warnings = json.loads((tmp_path / "out" / "audit.json").read_text())["warnings"]
    assert any("format alone" in w for w in warnings) and any("size alone" in w for w in warnings)


@pytest.mark.slow
def test_oracle_is_reported_only_when_asked_and_labelled(tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60)})
    base = ["run", "suites/ff++.yaml", "--data-dir", data, *tiny(tiny_backbone, 4)]
    plain = cli(*base, "--output-dir", tmp_path / "plain")
    oracle = cli(*base, "--output-dir", tmp_path / "oracle", "--set", "selection.oracle=true")
    assert plain.returncode == 0 and oracle.returncode == 0, plain.stderr + oracle.stderr
    plain_rows = [json.loads(line) for line in (tmp_path / "plain/results.jsonl").read_text().splitlines()]
    oracle_rows = [json.loads(line) for line in (tmp_path / "oracle/results.jsonl").read_text().splitlines()]
    assert all("oracle_auc" not in row for row in plain_rows)
    assert "ORACLE" not in (tmp_path / "plain/report.md").read_text()
    for plain_row, row in zip(plain_rows, oracle_rows):
        assert row["auc"] == plain_row["auc"]  # the honest number does not change
        assert row["oracle_auc"] >= row["auc"] - 1e-12 and 1 <= row["oracle_epoch"] <= 4
    assert "ORACLE AUC: best epoch picked on the test set" in (tmp_path / "oracle/report.md").read_text()
