"""Several detectors and variants in one suite: each under its own name, one encoding pass; the
built-in linear probe, zero-shot baseline and clip-adapter ablations."""

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.detector import FitContext, Samples
from benchmark.prompts import PromptSet
from benchmark_plugins.detectors.clip_adapter import ClipAdapter
from benchmark_plugins.detectors.clip_linear_probe import ClipLinearProbe
from benchmark_plugins.detectors.clip_zero_shot import ClipZeroShot

from conftest import assert_refused, make_class_folders, run_main, save_image, write_suite

ZOO = """name: zoo
data: {{real: Real_youtube}}
pairings: [{{train: FaceSwap, test: [FaceSwap, NeuralTextures]}}]
detectors:
  clip-adapter: &encoder {{backbone: {backbone}, pretrained: none, epochs: 2}}
  adapter-terse: {{<<: *encoder, use: clip-adapter, prompts: {{real: [a face], fake: [a forged face]}}, lr: 3e-4}}
  adapter-no-text: {{<<: *encoder, use: clip-adapter, text_features: false}}
  adapter-text-only: {{<<: *encoder, use: clip-adapter, adapter: false}}
  clip-linear-probe: {{backbone: {backbone}, pretrained: none}}
  clip-zero-shot: {{backbone: {backbone}, pretrained: none, temperature: 0.05}}
"""
NAMES = ["clip-adapter", "adapter-terse", "adapter-no-text", "adapter-text-only", "clip-linear-probe", "clip-zero-shot"]
CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, tiny_backbone):
    base = tmp_path_factory.mktemp("zoo")
    data = make_class_folders(base / "data", CLASSES, videos=8, frames=2)
    suite = write_suite(base / "zoo.yaml", ZOO.format(backbone=tiny_backbone))
    return base, data, suite


@pytest.fixture(scope="module")
def zoo_run(zoo):
    from benchmark.cli import main

    base, data, suite = zoo
    out = base / "run"
    assert main(["run", str(suite), "--data-dir", str(data), "--output-dir", str(out), "--workers", "0",
                 "--cache-dir", str(base / "cache")]) == 0
    return base, data, suite, out


@pytest.mark.slow
def test_six_detectors_and_variants_run_side_by_side_on_one_encoding_pass(zoo_run, capsys):
    base, data, suite, out = zoo_run
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["detector"] for r in rows] == [n for n in NAMES for _ in range(2)]
    report = (out / "report.md").read_text()
    board = report[report.index("## Leaderboard: AUC"):report.index("## Leaderboard: video-level AUC")]
    assert all(f"| {name} | " in board for name in NAMES)  # the detectors side by side on the same cells
    assert f"## Paired difference: {NAMES[0]} - {NAMES[1]}, AUC" in report
    for name in NAMES:
        assert (out / name / "train-FaceSwap" / "seed-42" / "final_model.pth").exists()
        assert f"## {name}: AUC" in (out / "report.md").read_text()
    features = json.loads((out / "meta.json").read_text())["features"]
    splits = pd.read_csv(out / "splits.csv")
    read = splits[(splits["class"] != "NeuralTextures") | (splits.split == "test")]  # NT is only tested
    assert features["images_encoded"] == len(read) and features["models_loaded"] == 1  # each image once
    meta = json.loads((out / "meta.json").read_text())["detectors"]
    assert meta["adapter-terse"]["use"] == "clip-adapter" and meta["adapter-terse"]["prompts"]["name"] == "inline"
    assert meta["adapter-terse"]["options"]["lr"] == 0.0003  # `3e-4` arrives as a number

    terse = torch.load(out / "adapter-terse/train-FaceSwap/seed-42/final_model.pth", weights_only=True)
    default = torch.load(out / "clip-adapter/train-FaceSwap/seed-42/final_model.pth", weights_only=True)
    assert terse["state"]["model"]["real_text"].shape[0] == 1  # its own inline prompt set
    assert default["state"]["model"]["real_text"].shape[0] == 5
    no_text = torch.load(out / "adapter-no-text/train-FaceSwap/seed-42/final_model.pth", weights_only=True)
    assert "real_text" not in no_text["state"]["model"]

    other_prompts = suite.read_text().replace("fake: [a forged face]", "fake: [a fake face]")
    changed = write_suite(base / "changed.yaml", other_prompts)
    assert_refused(run_main(capsys, "run", changed, "--data-dir", data, "--output-dir", out, "--workers", "0"),
                   "detectors.adapter-terse.(prompts.fake): [\"a forged face\"] -> [\"a fake face\"]")


@pytest.mark.parametrize("entry, message", [
    ("x: {use: clip-adaptor}", "unknown detector 'clip-adaptor'; did you mean 'clip-adapter'?"),
    ("x: {use: 3}", "detectors.x.use must name a detector plugin"),
    ("x: {use: clip-adapter, prompts: {real: [a face]}}", "'detectors.x.prompts' must name a prompt set or give one"),
    ("x: {use: clip-adapter, prompts: terse}", "detectors.x.prompts: unknown prompt set 'terse'"),
    ("x: {use: clip-adapter, text_features: false, adapter: false}", "the head would see nothing"),
    ("x: {use: clip-linear-probe, c_values: 1.0}", "detectors.x.c_values must be a list"),
    ("x: {use: clip-linear-probe, c_values: [0]}", "c_values: must be > 0"),
    ("x: {use: clip-zero-shot, temperature: 0}", "temperature: must be > 0"),
])
def test_bad_variants_are_one_line(capsys, tmp_path, entry, message):
    suite = write_suite(tmp_path / "s.yaml", "name: v\npairings: [{train: A, test: [A]}]\ndetectors: {" + entry + "}\n")
    assert_refused(run_main(capsys, "validate", suite), message)


def separable(n: int, dim: int, seed: int) -> Samples:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    x = torch.randn(n, dim, generator=g)
    x[:, 0] += 2.0 * (2 * labels - 1)
    return Samples([f"{i}.png" for i in range(n)], labels.numpy(), torch.nn.functional.normalize(x, dim=1))


def context(dim: int, saved: list, prompts=PromptSet(real=["r1", "r2"], fake=["f1"]), texts=None) -> FitContext:
    texts = texts if texts is not None else torch.nn.functional.normalize(torch.randn(3, dim), dim=1)
    asked = []

    def encode_text(t):
        asked.append(list(t))
        return texts[: len(t)]

    @contextlib.contextmanager
    def progress(total):
        yield lambda **stats: None

    ctx = FitContext(device=torch.device("cpu"), seed=0, prompts=prompts, log=lambda m: None,
                     encode_text=encode_text, progress=progress,
                     save_checkpoint=lambda epoch, stats, resume=None: saved.append((epoch, stats)))
    ctx.asked = asked
    return ctx


def test_linear_probe_chooses_c_on_val_and_round_trips():
    saved = []
    probe = ClipLinearProbe(c_values=[1e-4, 1.0])
    ctx = context(16, saved)
    probe.fit(separable(200, 16, 0), separable(100, 16, 1), ctx)
    test = separable(100, 16, 2)
    scores = probe.predict(test, ctx)
    assert roc_auc_score(test.labels, scores) > 0.9 and probe.c in (1e-4, 1.0)
    assert saved == [(1, {"C": probe.c, "val_auc": pytest.approx(saved[0][1]["val_auc"])})]
    restored = ClipLinearProbe()
    restored.load_state_dict(probe.state_dict())
    np.testing.assert_allclose(restored.predict(test, ctx), scores)


def test_zero_shot_is_a_softmax_over_mean_prompt_similarities():
    texts = torch.eye(4)[:3]  # real prompts e0, e1; fake prompt e2
    zero = ClipZeroShot(temperature=0.5)
    saved = []
    ctx = context(4, saved, texts=texts)
    zero.fit(None, None, ctx)
    image = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    scores = zero.predict(Samples(["a", "b"], np.array([0, 1]), image), ctx)
    # image 0: real mean 0.5, fake 0 -> sigmoid(-1); image 1: real 0, fake 1 -> sigmoid(2)
    np.testing.assert_allclose(scores, torch.sigmoid(torch.tensor([-1.0, 2.0])).numpy(), rtol=1e-6)
    assert saved == [(1, {})]


@pytest.mark.parametrize("options, texts_used, has_adapter", [
    ({}, True, True), ({"text_features": False}, False, True), ({"adapter": False}, True, False)])
def test_adapter_ablations_drop_what_they_say(options, texts_used, has_adapter):
    detector = ClipAdapter(epochs=1, hidden_dim=8, **options)
    ctx = context(16, [], prompts=PromptSet(real=["r"], fake=["f"]))
    detector.fit(separable(40, 16, 0), None, ctx)
    assert bool(ctx.asked) == texts_used
    assert (detector.model.adapter is not None) == has_adapter
    restored = ClipAdapter()
    restored.load_state_dict(detector.state_dict())
    test = separable(10, 16, 3)
    np.testing.assert_allclose(restored.predict(test, ctx), detector.predict(test, ctx), rtol=1e-6)


def test_shortcut_probe_finds_a_format_shortcut_and_the_report_warns(capsys, tmp_path, tiny_backbone):
    rng = np.random.default_rng(0)
    for v in range(16):  # the same content kind, but every fake a PNG and every real a JPEG
        save_image(tmp_path / "data" / "Real" / f"{v}.jpg", rng, (0, 0, 0), 40)
        save_image(tmp_path / "data" / "GAN" / f"{v}.png", rng, (0, 0, 0), 40)
    suite = write_suite(tmp_path / "s.yaml", "name: sc\ndata: {real: Real}\npairings: [{train: GAN, test: [GAN]}]\n"
                        f"detectors: {{shortcut-probe: {{}}, clip-zero-shot: {{backbone: {tiny_backbone}, "
                        "pretrained: none}}\n")
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, "run", suite, "--data-dir", tmp_path / "data", "--output-dir", out,
                                 "--workers", "0")
    assert code == 0, err
    rows = {r["detector"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert rows["shortcut-probe"]["auc"] == 1.0
    report = (out / "report.md").read_text()
    assert "## Shortcut check" in report and "clip-zero-shot on GAN -> GAN" in report
    assert "shortcut warning: clip-zero-shot on GAN -> GAN" in " ".join(stdout.split())


@pytest.mark.parametrize("detector", ["adapter-terse", "clip-linear-probe", "clip-zero-shot"])
def test_predict_gives_the_runs_own_scores(zoo_run, capsys, detector, monkeypatch):
    base, data, _, out = zoo_run
    scores = base / f"{detector}.csv"
    monkeypatch.chdir(data)  # a relative folder, as a user types it
    code, stdout, err = run_main(capsys, "predict", out, "FaceSwap", "--detector", detector, "--train", "FaceSwap",
                                 "--out", scores, "--workers", "0", "--cache-dir", base / "cache")
    assert code == 0, err
    predicted = pd.read_csv(scores)
    assert list(predicted.columns) == ["path", "score", "prediction", "video", "video_score"]
    assert len(predicted) == 16 and predicted.path.is_unique  # one score per image, 8 videos x 2 frames
    ran = pd.read_csv(out / detector / "train-FaceSwap/seed-42/test-FaceSwap/test_predictions.csv")
    merged = ran.merge(predicted, on="path", suffixes=("_run", "_predict"))
    assert len(merged) == int((ran.label == 1).sum()) > 0  # the run's FaceSwap test images
    np.testing.assert_allclose(merged.score_run, merged.score_predict, rtol=1e-7)
    assert (merged.prediction_run == merged.prediction_predict).all()
    assert predicted.groupby("video").video_score.nunique().eq(1).all()


def test_predict_refuses_a_mismatched_model(zoo_run, capsys, tmp_path):
    base, data, _, out = zoo_run
    model = out / "clip-adapter/train-FaceSwap/seed-42/final_model.pth"
    saved = torch.load(model, weights_only=True)
    image = next((data / "FaceSwap").rglob("*.png"))
    for change, message in [({"encoder": "0" * 32}, "its encoder (00000000000000000000000000000000) differs"),
                            ({"source": "someone-else 9.9 (x)"}, "was trained with someone-else 9.9 (x)"),
                            ({"use": "nope"}, "unknown detector 'nope'")]:
        tampered = tmp_path / "model.pth"
        torch.save({**saved, **change}, tampered)
        assert_refused(run_main(capsys, "predict", tampered, image, "--workers", "0"), message)
    old = tmp_path / "old.pth"
    torch.save({k: v for k, v in saved.items() if k not in ("use", "source", "encoder")}, old)
    assert_refused(run_main(capsys, "predict", old, image), "not a checkpoint written by this harness")
    assert_refused(run_main(capsys, "predict", out, image, "--detector", "clip-adapter"), "pass --detector NAME and --train")
