"""The encoder interface: a library of frozen image encoders, registered through ``register_encoders``.

A suite names an encoder as ``backbone: <library>:<model>`` (``open_clip:ViT-B-32``,
``timm:tf_efficientnet_lite0``, ``torchvision:mobilenet_v2``); a bare name is an open_clip model, so
older suites run unchanged. ``pretrained`` is the library's tag, a local weights file, or ``none``.

The harness calls :meth:`ImageEncoder.identity` (cheap: no model is built) to key the embedding
cache, and :meth:`ImageEncoder.load` only when an embedding is missing. Embeddings are the model's
pooled features before any classifier, L2-normalised by the harness.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable

import torch

NO_WEIGHTS = (None, "", "none", "None")


@dataclass
class LoadedEncoder:
    """A model ready to encode: on the device, in eval mode, gradients off."""

    preprocess: Callable  # PIL RGB image -> (3, H, W) float tensor
    encode_image: Callable[[torch.Tensor], torch.Tensor]  # (B, 3, H, W) -> (B, dim) pooled features
    image_size: int  # the model's input side, for reduced-scale JPEG decoding
    encode_text: Callable[[list[str]], torch.Tensor] | None = None  # None: an image-only encoder
    module: torch.nn.Module | None = None  # the model itself, for its weights and parameter count
    # for fine-tuning (the `finetune` detector): the module encode_image runs through (open_clip: the
    # visual tower only) and the library's own input normalisation
    image_module: torch.nn.Module | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


class ImageEncoder(abc.ABC):
    """One library of encoders (open_clip, timm, torchvision, yours)."""

    #: True when models of this library also encode text (prompt similarity needs it)
    has_text: bool = False

    @abc.abstractmethod
    def identity(self, model: str, pretrained: str, file_hash: Callable[[str], str]) -> dict:
        """Everything that changes an embedding, without building the model: library version, model,
        weights (tag, or ``file_hash(path)`` of a local file, or random init), preprocessing (resize,
        crop, mean/std, interpolation) and which layer is taken. Raise BenchmarkError naming the
        option for an unknown model or weights."""

    @abc.abstractmethod
    def load(self, model: str, pretrained: str, device: torch.device) -> LoadedEncoder:
        """Build the model with its weights (random init must be seeded: the same in every run)."""

    def weights_missing(self, model: str, pretrained: str) -> bool:
        """True when ``pretrained`` names weights this machine would have to download first
        (`benchmark validate` says so). Optional: the default assumes they are at hand."""
        return False


def split_backbone(backbone: str, libraries) -> tuple[str, str]:
    """``"timm:resnet50"`` -> ``("timm", "resnet50")``; a bare name or an unknown prefix (open_clip's
    own ``hf-hub:...``) is an open_clip model."""
    prefix, _, rest = str(backbone).partition(":")
    if rest and prefix in libraries:
        return prefix, rest
    return "open_clip", str(backbone)
