"""`finetune` and its presets: inputs (SRM, phase), what each `tune` trains, augmentations, refusals
before anything runs, and whole runs: side by side, val-selected, resumable after kill -9 with the
same weights, and `benchmark predict` giving the run's own scores."""

import inspect
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from benchmark.detector import EncoderSpec, FitContext
from benchmark.prompts import PromptSet
from benchmark_plugins.detectors.augment import Augmentations, eval_transform, train_transform
from benchmark_plugins.detectors.finetune import Finetune, lr_factor
from benchmark_plugins.detectors.finetune_net import FinetuneNet, Tune, check_architecture, load_encoder
from benchmark_plugins.detectors.pixel_inputs import SRMResiduals, phase_only, widen_first_conv
from benchmark_plugins.detectors.presets import PRESETS, preset

from conftest import assert_refused, make_class_folders, run_main, write_suite
from test_resume import assert_resumes_identically, rows

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}
TINY = "{backbone: 'timm:test_efficientnet', pretrained: none, size: 32, epochs: 2, batch_size: 8}"


# -- inputs ------------------------------------------------------------------------------------
def test_srm_residuals_are_a_fixed_high_pass_layer():
    srm = SRMResiduals()
    assert not list(srm.parameters()) and "kernel" in srm.state_dict()  # travels with weights, never trained
    flat = torch.full((1, 3, 16, 16), 0.7)
    assert torch.allclose(srm(flat)[..., 2:-2, 2:-2], torch.zeros(1, 3, 12, 12), atol=1e-6)  # no low frequencies
    noisy = srm(torch.randn(2, 3, 16, 16) * 50)
    assert noisy.abs().max() <= 3.0 and noisy.abs().max() > 1.0  # truncated to [-3, 3]


def test_phase_only_image_matches_numpy():
    images = torch.rand(2, 3, 12, 10)
    grey = images.mean(1).numpy()
    spectrum = np.fft.fft2(grey)
    expected = np.real(np.fft.ifft2(np.exp(1j * np.angle(spectrum)))) * np.sqrt(12 * 10)
    assert np.allclose(phase_only(images)[:, 0].numpy(), expected, atol=1e-5)


def test_widening_the_first_conv_keeps_its_rgb_filters():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    before = net[0].weight.detach().clone()
    widen_first_conv(net, "0")
    assert net[0].in_channels == 4 and torch.equal(net[0].weight[:, :3], before)
    assert torch.allclose(net[0].weight[:, 3], before.mean(1))


# -- what trains -------------------------------------------------------------------------------
def _net(model="timm:test_efficientnet", input_kind="rgb", size=32):
    spec = EncoderSpec(model, "none")
    dim = check_architecture(spec, Tune("all"), input_kind, size)["feature_dim"]
    return FinetuneNet(load_encoder(spec, torch.device("cpu")), input_kind, dim, False)


def test_each_tune_trains_what_it_names():
    counts = {}
    for text in ("head", "norm", "last:1", "last:2", "all"):
        net = _net()
        params = net.select(Tune.parse(text))
        counts[text] = sum(p.numel() for p in params)
        net.train_mode(Tune.parse(text))
        batchnorms = [m for m in net.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        if text == "head":
            assert params == list(net.head.parameters()) and not any(m.training for m in net.backbone.modules())
        if text == "norm":  # GenD's recipe: every norm layer trains (batch statistics too), nothing else
            assert all(m.training for m in batchnorms)
            assert all(not p.requires_grad for n, p in net.backbone.named_parameters() if "conv" in n)
    assert counts["head"] < counts["norm"] < counts["last:1"] < counts["last:2"] < counts["all"]
    assert counts["all"] == sum(p.numel() for p in _net().parameters())


def test_last_k_on_a_vit_trains_its_last_blocks_and_what_follows_them(tiny_backbone):
    net = _net(tiny_backbone)
    trained = {n for n, p in net.backbone.named_parameters() if p in set(net.select(Tune("last", 1)))}
    assert trained and all(n.startswith(("transformer.resblocks.0.", "ln_post.", "proj")) for n in trained)
    assert "ln_post.weight" in trained and "conv1.weight" not in trained


def test_phase_input_widens_the_first_conv_and_always_trains_it():
    net = _net(input_kind="phase")
    assert net.backbone.conv_stem.in_channels == 4
    net.select(Tune("head"))
    assert net.backbone.conv_stem.weight.requires_grad
    assert net(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_the_real_presets_fit_their_networks():
    """The published architectures are checked on the meta device: no weights, no memory."""
    for name, (_, defaults) in PRESETS.items():
        options = {"tune": "all", "input": "rgb", "size": 256, **defaults}
        found = check_architecture(EncoderSpec(options["backbone"], "none"), Tune.parse(options["tune"]),
                                   options["input"], options["size"])
        assert found["feature_dim"] == {"xception": 2048, "efficientnet-b4": 1792, "srm-xception": 2048,
                                        "spsl-xception": 2048, "gend-ln": 768}[name]


def test_a_preset_records_its_recipe_as_its_defaults():
    signature = inspect.signature(preset("xception", "", PRESETS["xception"][1]))
    assert signature.parameters["backbone"].default == "timm:legacy_xception"
    assert signature.parameters["rotate"].default == 0.0 and signature.parameters["lr"].default == 2e-4
    gend = inspect.signature(preset("gend-ln", "", PRESETS["gend-ln"][1])).parameters
    assert (gend["tune"].default, gend["normalize"].default, gend["scheduler"].default) == ("norm", True, "cosine")


def test_the_learning_rate_warms_up_then_follows_a_cosine():
    factors = [lr_factor(step, 100, 10, 0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:])) and factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert [lr_factor(step, 100, 4, 0.1, cosine=False) for step in (0, 3, 50, 99)] == [0.25, 1.0, 1.0, 1.0]


def test_a_prompt_initialised_head_starts_as_clips_zero_shot_classifier(tiny_backbone):
    detector = Finetune(backbone=tiny_backbone, pretrained="none", size=32, normalize=True, head_init="prompts")
    detector.net = detector._build("none")
    loaded = detector._loaded
    prompts = PromptSet(real=["a real face", "a photo"], fake=["a fake face"])
    detector._zero_shot_head(FitContext(device=torch.device("cpu"), seed=0, prompts=prompts, log=print))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        image = torch.nn.functional.normalize(loaded.encode_image(images).float(), dim=1)

        def centre(texts):
            return torch.nn.functional.normalize(
                torch.nn.functional.normalize(loaded.encode_text(texts).float(), dim=1).mean(0), dim=0)

        zero_shot = loaded.module.logit_scale.exp() * image @ (centre(prompts.fake) - centre(prompts.real))
        assert torch.allclose(detector.net(images), zero_shot, atol=1e-4)


# -- augmentations -----------------------------------------------------------------------------
def test_augmentations_are_seeded_and_each_can_be_switched_off():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    augmented = train_transform(32, mean, std, Augmentations(hflip=1.0, rotate=1.0, blur=1.0, brightness_contrast=1.0,
                                                             jpeg=1.0))

    def draw(seed):
        torch.manual_seed(seed)
        return augmented(image)

    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))
    off = train_transform(32, mean, std, Augmentations(0, 0, 10, 0, 0, 0.1, 0, (40, 100)))
    assert torch.equal(off(image), eval_transform(32, mean, std)(image))
    jpeg_only = train_transform(32, mean, std, Augmentations(0, 0, 10, 0, 0, 0.1, 1.0, (40, 40)))
    assert not torch.equal(jpeg_only(image), off(image))


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ("{backbone: 'timm:legacy_xceptoin'}", "detectors.finetune.backbone: unknown timm model 'legacy_xceptoin'; did you "
                                           "mean timm:legacy_xception?"),
    ("{backbone: 'torchvision:vgg11', pretrained: none, tune: norm}",
     "detectors.finetune.tune: norm: torchvision:vgg11 has no normalisation layers with parameters"),
    ("{backbone: 'timm:test_efficientnet', pretrained: none, tune: 'last:9'}",
     "detectors.finetune.tune: last:9: timm:test_efficientnet has 5 block(s); use last:1 .. last:5"),
    ("{backbone: 'timm:test_efficientnet', tune: 'some'}", "detectors.finetune.tune: must be all, head, norm or last:<k>"),
    ("{backbone: 'ViT-B-32', pretrained: none, size: 256}", "detectors.finetune.size: ViT-B-32 cannot take 256 px input"),
    ("{backbone: 'timm:test_efficientnet', pretrained: none, input: phase, size: 4}",
     "detectors.finetune.size: must be >= 8"),
    ("{backbone: 'timm:test_efficientnet', pretrained: none, normalize: true, head_init: prompts}",
     "detectors.finetune.backbone: timm:test_efficientnet encodes images only, but this detector encodes text prompts; "
     "set head_init: random"),
    ("{backbone: 'timm:test_efficientnet', pretrained: no_such_tag}",
     "detectors.finetune.pretrained: timm has no weights tag 'no_such_tag' for test_efficientnet"),
    ("{backbone: 'timm:test_efficientnet', pretrained: r160_in1k}",  # a real tag, not downloadable offline
     "detectors.finetune.pretrained: cannot load timm weights 'r160_in1k' for test_efficientnet"),
    ("{backbone: 'timm:test_efficientnet', pretrained: none, jpeg_quality: [90, 40]}",
     "detectors.finetune.jpeg_quality: must be [low, high]"),
])
def test_what_cannot_run_is_refused_in_one_line_before_anything_is_written(capsys, tmp_path, options, message):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=3, frames=1)
    suite = write_suite(tmp_path / "s.yaml", "name: s\ndata: {real: Real_youtube}\n"
                        f"pairings: [{{train: FaceSwap, test: [FaceSwap]}}]\ndetectors: {{finetune: {options}}}\n")
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0"),
                   message, out)


# -- whole runs --------------------------------------------------------------------------------
def test_every_preset_runs_side_by_side_and_predict_gives_the_runs_scores(capsys, tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=2)
    tiny_clip = f"{{backbone: '{tiny_backbone}', pretrained: none, size: 32, epochs: 2, batch_size: 8}}"
    suite = write_suite(tmp_path / "baselines.yaml", "name: baselines\ndata: {real: Real_youtube}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\n"
                        f"detectors: {{xception: {TINY}, efficientnet-b4: {TINY}, srm-xception: {TINY},\n"
                        f"  spsl-xception: {TINY}, gend-ln: {tiny_clip},\n"
                        "  finetune: {backbone: 'timm:test_vit', pretrained: none, size: 32, epochs: 2, batch_size: 8,"
                        " tune: 'last:1', scheduler: cosine, warmup_epochs: 1}}\n")
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0")
    assert code == 0, err
    names = ["xception", "efficientnet-b4", "srm-xception", "spsl-xception", "gend-ln", "finetune"]
    results = rows(out)
    assert sorted((r["detector"], r["test"]) for r in results) == sorted(
        (d, t) for d in names for t in ("FaceSwap", "NeuralTextures"))
    report = (out / "report.md").read_text()
    for name in names:
        assert f"| {name} |" in report
        folder = out / name / "train-FaceSwap" / "seed-42"
        epochs = pd.read_csv(folder / "epochs.csv")
        assert list(epochs["epoch"]) == [1, 2] and epochs["selected"].sum() == 1  # selected on val
        saved = torch.load(folder / "final_model.pth", weights_only=True)
        assert saved["selection"]["epoch"] in (1, 2)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["encoders"]["xception"]["model"] == "test_efficientnet"  # the network's identity is recorded
    assert meta["detectors"]["spsl-xception"]["options"]["input"] == "phase"

    gend = torch.load(out / "gend-ln/train-FaceSwap/seed-42/final_model.pth", weights_only=True)["state"]
    full = torch.load(out / "xception/train-FaceSwap/seed-42/final_model.pth", weights_only=True)["state"]
    assert gend["partial"] and not full["partial"]  # tune: norm keeps only what training changed
    assert all("ln" in k or "norm" in k or k.startswith("head.") for k in gend["model"]), sorted(gend["model"])

    test_images = tmp_path / "data" / "NeuralTextures"
    for name in ("spsl-xception", "gend-ln"):  # a full state, and tuned weights on top of the start
        scores = out / f"scores-{name}.csv"
        code, _, err = run_main(capsys, "predict", out, "--detector", name, "--train", "FaceSwap",
                                test_images, "--out", scores, "--workers", "0")
        assert code == 0, err
        predicted = pd.read_csv(scores).set_index("path")["score"]
        own = pd.read_csv(out / name / "train-FaceSwap/seed-42/test-NeuralTextures/test_predictions.csv")
        own = own[own["label"] == 1].set_index("path")["score"]
        assert len(own) > 0 and np.allclose(predicted.loc[own.index], own, atol=1e-6), name


@pytest.mark.slow
@pytest.mark.parametrize("tune", ["all", "last:2"])  # every weight saved, or only the tuned ones on the start
def test_a_killed_finetune_resumes_to_the_same_weights(tmp_path, tune):
    """Augmentation, shuffling, dropout-free BN training, Adam and a cosine schedule with warm-up:
    killed after epoch 1, the resumed run's epochs 2 and 3 are bit-identical to an uninterrupted run."""
    data = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=2, modes=[("png", "RGB")])
    suite = write_suite(tmp_path / "ft.yaml", "name: ft\ndata: {real: Real_youtube}\n"
                        "pairings: [{train: FaceSwap, test: [FaceSwap]}]\n"
                        "detectors: {finetune: {backbone: 'timm:test_efficientnet', pretrained: none, size: 32,"
                        f" epochs: 3, batch_size: 8, scheduler: cosine, warmup_epochs: 1, optimizer: adamw, tune: '{tune}'}}}}\n")

    def args(out):
        return ["run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0", "--no-cache"]

    assert_resumes_identically(tmp_path, args, "finetune/train-FaceSwap/seed-42", killed_after=1, epochs=3)


def test_perf_train_compares_the_harness_epoch_with_a_hand_written_loop(capsys, tmp_path):
    data = make_class_folders(tmp_path / "data", {"Real": (0, 0, 0), "Fake": (60, -30, 0)}, videos=8, frames=1)
    code, out, err = run_main(capsys, "perf", data, "--train", "finetune", "--option", "backbone=timm:test_efficientnet",
                              "--option", "pretrained=none", "--option", "size=32", "--option", "batch_size=4",
                              "--limit", "8", "--workers", "0")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["images"] == 16 and len(figures["harness_epoch_s"]) == len(figures["hand_loop_epoch_s"]) == 3
    assert figures["harness_over_hand_loop"] == pytest.approx(
        min(figures["harness_epoch_s"]) / min(figures["hand_loop_epoch_s"]), rel=0.02)  # epochs shown rounded
    assert_refused(run_main(capsys, "perf", data, "--train", "clip-linear-probe"),
                   "perf --train clip-linear-probe: a frozen-encoder detector trains on cached embeddings")
    assert_refused(run_main(capsys, "perf", data, "--train", "finetune", "--option", "size"),
                   "perf: --option 'size': expected KEY=VALUE")
