"""Encoders as plugins: open_clip, timm and torchvision built-ins, the offline ImageNet weights of
tf_efficientnet_lite0, and the checks a suite gets before anything runs."""

import json

import matplotlib.cbook
import pytest
import torch
from PIL import Image

from benchmark.detector import EncoderSpec
from benchmark.encoders import split_backbone
from benchmark.features.encoders import FrozenEncoder, encoder_identity, encoder_key
from benchmark_plugins.encoders.timm_encoder import OFFLINE_IMAGENET, offline_weights_file

from conftest import assert_refused, make_class_folders, run_main, write_suite

CPU = torch.device("cpu")
LIBRARIES = {"open_clip", "timm", "torchvision"}


def hopper() -> Image.Image:
    """A photo matplotlib ships (Grace Hopper in uniform), the classic ImageNet sanity image."""
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


def test_backbone_names_pick_a_library_and_bare_names_stay_open_clip():
    assert split_backbone("timm:resnet18", LIBRARIES) == ("timm", "resnet18")
    assert split_backbone("torchvision:mobilenet_v2", LIBRARIES) == ("torchvision", "mobilenet_v2")
    assert split_backbone("ViT-B-32", LIBRARIES) == ("open_clip", "ViT-B-32")
    assert split_backbone("hf-hub:laion/CLIP-ViT-B-32", LIBRARIES) == ("open_clip", "hf-hub:laion/CLIP-ViT-B-32")


def test_offline_imagenet_weights_load_strictly_and_recognise_a_photo():
    """Fails for random weights and for any mis-mapping: the right ImageNet class must rank top-5."""
    import timm
    from timm.data import ImageNetInfo, create_transform, resolve_data_config

    from benchmark.checkpoints import safe_load
    from benchmark_plugins.encoders.timm_encoder import map_lukemelas

    def top5(state):
        model = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
        if state is not None:
            model.load_state_dict(state, strict=True)
        model.eval()
        transform = create_transform(**resolve_data_config({}, model=model))
        with torch.no_grad():
            logits = model(transform(hopper())[None])
        info = ImageNetInfo()
        return [info.index_to_description(i) for i in logits.topk(5).indices[0].tolist()]

    target = timm.create_model("tf_efficientnet_lite0", num_classes=1000).state_dict()
    mapped = map_lukemelas(safe_load(offline_weights_file("tf_efficientnet_lite0")), target)
    assert "military uniform" in top5(mapped)
    assert "military uniform" not in top5(None)  # random weights: no idea


def test_timm_encoder_gives_normalised_pooled_features_from_the_offline_weights(tmp_path):
    spec = EncoderSpec("timm:tf_efficientnet_lite0", OFFLINE_IMAGENET)
    encoder = FrozenEncoder(spec, CPU)
    path = tmp_path / "hopper.jpg"
    hopper().save(path)
    embedding = encoder.encode_paths([str(path)])
    assert embedding.shape == (1, 1280) and torch.allclose(embedding.norm(dim=1), torch.ones(1), atol=1e-2)
    identity = encoder_identity(spec, lambda p: "sha-of-" + p.rsplit("/", 1)[-1])
    assert identity["library"] == "timm" and identity["layer"].startswith("pooled pre-logits")
    assert identity["weights"] == "file:sha-of-efficientnet-lite0-57934424.pth:lukemelas-to-timm-by-order-v1"
    assert identity["preprocess"]["mean"] == (0.5, 0.5, 0.5) and identity["preprocess"]["interpolation"] == "bicubic"
    with pytest.raises(Exception, match="encodes images only"):
        encoder.encode_text(["a real face"])


def test_torchvision_encoder_random_and_local_weights(tmp_path):
    spec = EncoderSpec("torchvision:mobilenet_v2", "none")
    encoder = FrozenEncoder(spec, CPU)
    path = tmp_path / "hopper.jpg"
    hopper().save(path)
    first = encoder.encode_paths([str(path)])
    assert first.shape == (1, 1280)
    torch.testing.assert_close(FrozenEncoder(spec, CPU).encode_paths([str(path)]), first)  # seeded random init
    weights = tmp_path / "mobilenet.pth"
    state = {k: v + 0.01 if v.is_floating_point() else v
             for k, v in encoder.loaded.module.state_dict().items()}  # other weights, same shapes (no head)
    import torchvision
    full = torchvision.models.mobilenet_v2().state_dict()
    torch.save({**{k: v for k, v in full.items() if k.startswith("classifier")}, **state}, weights)
    local = FrozenEncoder(EncoderSpec("torchvision:mobilenet_v2", str(weights)), CPU)
    assert not torch.allclose(local.encode_paths([str(path)]), first)
    keys = {encoder_key(EncoderSpec("torchvision:mobilenet_v2", p), lambda f: f) for p in ("none", str(weights))}
    assert len(keys) == 2  # the weights are part of the cache key


@pytest.mark.parametrize("backbone, pretrained, message", [
    ("timm:tf_efficientnet_lit0", "none", "unknown timm model 'tf_efficientnet_lit0'; did you mean timm:tf_efficientnet_lite0?"),
    ("timm:resnet18", OFFLINE_IMAGENET, "'imagenet-lite' exists for timm:tf_efficientnet_lite0 only"),
    ("torchvision:mobilenet_v9", "none", "unknown torchvision model 'mobilenet_v9'"),
    ("torchvision:mobilenet_v2", "IMAGENET9K", "'IMAGENET9K' is neither a weights file nor a torchvision weights name"),
])
def test_unknown_models_and_weights_are_named(backbone, pretrained, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace("?", r"\?")):
        encoder_key(EncoderSpec(backbone, pretrained), lambda f: f)


TEXT_SUITE = ("name: t\ndata: {real: Real}\npairings: [{train: A, test: [A]}]\n"
              "detectors: {clip-adapter: {backbone: 'timm:tf_efficientnet_lite0', pretrained: none}}\n")


def test_a_detector_that_needs_text_refuses_an_image_only_backbone(tmp_path, capsys):
    suite = write_suite(tmp_path / "s.yaml", TEXT_SUITE)
    assert_refused(run_main(capsys, "validate", suite),
                   "detectors.clip-adapter.backbone: timm:tf_efficientnet_lite0 encodes images only, but this "
                   "detector encodes text prompts; set text_features: false, or use an open_clip backbone")
    code, _, err = run_main(capsys, "validate", suite, "--set", "detectors.clip-adapter.text_features=false")
    assert code == 0, err


def test_linear_probe_on_offline_imagenet_features_runs_end_to_end(tmp_path, capsys):
    """The issue's 'done when': a frozen-feature detector on real pretrained features, installed
    offline, and meta.json naming the weights by hash."""
    data = make_class_folders(tmp_path / "data", {"Real": (0, 0, 0), "A": (70, -30, 0)}, videos=10, frames=1,
                              modes=[("png", "RGB")])
    suite = write_suite(tmp_path / "s.yaml", (
        "name: lite\ndata: {real: Real, split: {train: 0.5, val: 0.2, test: 0.3}}\n"
        "pairings: [{train: A, test: [A]}]\nreport: {bootstrap: 50}\n"
        "detectors: {clip-linear-probe: {backbone: 'timm:tf_efficientnet_lite0', pretrained: imagenet-lite}}\n"))
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, "--workers", "0")
    assert code == 0, err
    meta = json.loads((out / "meta.json").read_text())
    encoder = meta["encoders"]["clip-linear-probe"]
    assert encoder["library"] == "timm" and encoder["model"] == "tf_efficientnet_lite0"
    assert encoder["weights"].startswith("file:") and len(encoder["weights"].split(":")[1]) >= 32  # a sha256
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert row["auc"] > 0.9  # strongly tinted fakes: ImageNet features separate them
    assert meta["features"]["images_encoded"] == 20 and meta["features"]["models_loaded"] == 1  # one pass
    code, printed, err = run_main(capsys, "predict", out, "--detector", "clip-linear-probe", "--train", "A",
                                  data / "A", "--workers", "0", "--no-cache")
    assert code == 0, err
    assert "10 images scored" in printed
