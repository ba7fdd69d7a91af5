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
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from benchmark.checkpoints import Checkpoint
from benchmark.prompts import PromptSet


@dataclass(frozen=True)
class EncoderSpec:
    """Which frozen encoder makes the images' embeddings: ``<library>:<model>`` (a bare name is an
    open_clip model) and its weights (a tag, a local file or none). Part of every embedding's identity."""

    model: str
    pretrained: str = "none"  # a library tag, "none" (random init) or a local weights file


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
    # save_checkpoint(epoch, stats, resume=None) after each epoch: writes checkpoint_epoch_<epoch>.pth
    # from detector.state_dict(), scores val (this drives best-epoch selection) and stops the run on
    # a NaN stat. ``resume``: what the detector needs to continue exactly after this epoch (optimizer
    # state_dict, generator states: tensors and plain values); without it a restart begins at epoch 1.
    save_checkpoint: Callable[..., None] = lambda epoch, stats, resume=None: None
    # when a killed training run is resumed: the last finished epoch's Checkpoint(epoch, state, extra),
    # with the global RNGs already restored; fit() loads it and continues at epoch + 1
    resume: Checkpoint | None = None
    epoch: int = 0  # the last epoch checkpointed (for messages)
    # the generator ctx.image_batches shuffles with; saved in checkpoints so a resume continues it
    batch_generator: torch.Generator | None = None
    # epoch_progress(epochs) -> context manager yielding advance(**fields)
    progress: Callable[..., Any] | None = None
    # for pixel detectors: image_batches(samples, transform, batch_size, shuffle) -> (images, labels)
    image_batches: Callable[..., Iterator[tuple[torch.Tensor, torch.Tensor]]] | None = None


class Detector(abc.ABC):
    """A trainable forgery detector. Scores are P(fake) in [0, 1]."""

    def frozen_encoder(self) -> EncoderSpec | None:
        """The frozen image encoder whose embeddings this detector trains on; None for pixels."""
        return None

    def starts_from(self) -> EncoderSpec | None:
        """For a pixel detector that fine-tunes a registered encoder's network: that network and its
        starting weights. The harness checks the library up front, records the weights' identity
        (a local file by content) in the run's identity and final_model.pth (`predict` refuses other
        weights), `validate` says when they would download, and a run fetches them before writing."""
        return None

    def uses_text(self) -> str | None:
        """None, or why this detector encodes text prompts (``ctx.encode_text``) and how to stop it,
        e.g. ``"set text_features: false"``. The harness then refuses an image-only backbone up
        front with that hint."""
        return None

    @abc.abstractmethod
    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        """Train on ``train``; ``val`` (the training domain's validation split) is for monitoring."""

    @abc.abstractmethod
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        """P(fake) for every sample, in order."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Everything ``load_state_dict`` needs to score again without refitting: tensors and plain
        containers only (checkpoints load with ``weights_only=True``; save a scikit-learn model as
        its arrays)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...


def check_range(name: str, value, low=None, high=None, inclusive: bool = True) -> None:
    """For detector factories: ``low <= value < high`` (``low < value`` when not ``inclusive``),
    finite; raises ValueError naming the option, which the harness reports as
    ``detectors.<name>.<option>: ...`` before anything runs."""
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    if low is not None and (value < low or (not inclusive and value == low)):
        raise ValueError(f"{name}: must be {'>=' if inclusive else '>'} {low}, got {value!r}")
    if high is not None and value >= high:
        raise ValueError(f"{name}: must be in [{low}, {high}), got {value!r}")
