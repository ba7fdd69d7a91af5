"""The detector interface: what a detector plugin implements and what the harness hands it.

The harness, not the detector, owns devices, seeds, data loading and files. Two kinds fit:

* a detector with a **frozen encoder** returns an :class:`EncoderSpec` from ``frozen_encoder()``;
  the harness encodes every image once (and caches it) and passes embeddings in
  :attr:`Samples.features`. Training then never touches pixels.
* a detector that needs **pixels** returns ``None``; it reads images with
  ``ctx.image_batches(samples, transform, batch_size, shuffle)``, which the harness implements with
  parallel decoding.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from benchmark.prompts import PromptSet


@dataclass(frozen=True)
class EncoderSpec:
    """Which frozen open_clip model encodes the images: part of every embedding's identity."""

    model: str
    pretrained: str = "none"  # an open_clip tag, "none" (random init) or a local weights file


@dataclass
class Samples:
    """A labelled set of images (label 1 = fake); ``features`` is filled for frozen-encoder detectors."""

    paths: list[str]
    labels: np.ndarray
    features: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class FitContext:
    """What the harness lends a detector while it trains or scores."""

    device: torch.device
    seed: int
    prompts: PromptSet
    log: Callable[[str], None]
    # encode_text(list[str]) -> (n, d) normalised text embeddings from the frozen encoder
    encode_text: Callable[[list[str]], torch.Tensor] | None = None
    # save_checkpoint(epoch, metrics) writes checkpoint_epoch_<epoch>.pth from detector.state_dict()
    save_checkpoint: Callable[[int, dict], None] = lambda epoch, metrics: None
    # epoch_progress(epochs) -> context manager yielding advance(**fields)
    progress: Callable[..., Any] | None = None
    # for pixel detectors: image_batches(samples, transform, batch_size, shuffle) -> (images, labels)
    image_batches: Callable[..., Iterator[tuple[torch.Tensor, torch.Tensor]]] | None = None


class Detector(abc.ABC):
    """A trainable forgery detector. Scores are P(fake) in [0, 1]."""

    def frozen_encoder(self) -> EncoderSpec | None:
        """The frozen image encoder whose embeddings this detector trains on; None for pixels."""
        return None

    @abc.abstractmethod
    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        """Train on ``train``; ``val`` (the training domain's validation split) is for monitoring."""

    @abc.abstractmethod
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        """P(fake) for every sample, in order."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Everything ``load_state_dict`` needs to score again without refitting."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...
