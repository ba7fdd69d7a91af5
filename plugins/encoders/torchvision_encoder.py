"""torchvision classification models (``backbone: torchvision:<model>``), image only: the embedding is
the model's output with its classifier module (``fc``, ``classifier``, ``head`` or ``heads``)
replaced by identity, flattened.

``pretrained``: ``none`` (random init, seeded), a local state-dict file (e.g. torchvision's own
``mobilenet_v2-b0353104.pth``), or a weights name such as ``IMAGENET1K_V1`` / ``DEFAULT``
(downloads once). Preprocessing is the one torchvision publishes for the model's default weights.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from benchmark.checkpoints import safe_load
from benchmark.encoders import NO_WEIGHTS, ImageEncoder, LoadedEncoder
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl

HEADS = ("fc", "classifier", "head", "heads")


class TorchvisionEncoder(ImageEncoder):
    def _check(self, model: str):
        import torchvision

        if model not in torchvision.models.list_models():
            close = difflib.get_close_matches(model, torchvision.models.list_models(), n=1)
            raise BenchmarkError(f"backbone: unknown torchvision model '{model}'"
                                 f"{f'; did you mean torchvision:{close[0]}?' if close else ''}")
        return torchvision.models.get_model_weights(model)

    def _weights(self, model: str, pretrained: str):
        """The weights enum member for a name, or None (random init or a local file)."""
        enum = self._check(model)
        if pretrained in NO_WEIGHTS or Path(str(pretrained)).is_file():
            return None
        if pretrained not in enum.__members__:
            raise BenchmarkError(f"pretrained: '{pretrained}' is neither a weights file nor a torchvision weights "
                                 f"name of {model} (names: {', '.join(enum.__members__)}); or use none")
        return enum[pretrained]

    def _transform(self, model: str, weights):
        return (weights or self._check(model).DEFAULT).transforms()

    def identity(self, model, pretrained, file_hash) -> dict:
        import torchvision

        weights = self._weights(model, pretrained)
        if weights is not None:
            source = f"name:{weights}"
        else:
            source = "random-init:seed0" if pretrained in NO_WEIGHTS else "file:" + file_hash(pretrained)
        transform = self._transform(model, weights)
        preprocess = {k: str(getattr(transform, k, None)) for k in ("resize_size", "crop_size", "mean", "std",
                                                                    "interpolation", "antialias")}
        return {"torchvision": torchvision.__version__, "model": model, "weights": source, "preprocess": preprocess,
                "layer": "classifier -> identity, flattened"}

    def weights_missing(self, model, pretrained) -> bool:
        """Named weights not yet in torch hub's checkpoint folder."""
        weights = self._weights(model, pretrained)
        return weights is not None and not (Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name).is_file()

    def load(self, model, pretrained, device) -> LoadedEncoder:
        import torchvision

        weights = self._weights(model, pretrained)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # random init must be the same in every run
                net = torchvision.models.get_model(model, weights=weights)
        except Exception as e:  # noqa: BLE001 - download errors have many types
            raise BenchmarkError(f"pretrained: cannot load torchvision weights '{pretrained}' for {model} "
                                 f"({str(e).splitlines()[0][:160]}); set pretrained to a local weights file or none") from None
        if weights is None and pretrained not in NO_WEIGHTS:
            try:
                net.load_state_dict(safe_load(Path(pretrained)), strict=True)
            except RuntimeError as e:
                raise BenchmarkError(f"pretrained: {pretrained} does not fit torchvision:{model} "
                                     f"({str(e).splitlines()[0][:160]})") from None
        head = next((h for h in HEADS if isinstance(getattr(net, h, None), nn.Module)), None)
        if head is None:
            raise BenchmarkError(f"backbone: torchvision:{model} has no classifier module ({', '.join(HEADS)}) "
                                 "to take features before; choose a classification model")
        setattr(net, head, nn.Identity())
        net.eval().requires_grad_(False).to(device)
        transform = self._transform(model, weights)
        return LoadedEncoder(preprocess=transform, encode_image=lambda x: net(x).flatten(1),
                             image_size=int(transform.crop_size[0]), module=net, image_module=net,
                             mean=tuple(transform.mean), std=tuple(transform.std))


@hookimpl
def register_encoders(register):
    register("torchvision", TorchvisionEncoder())
