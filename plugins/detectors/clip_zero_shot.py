"""`clip-zero-shot`: no training at all. P(fake) is a softmax over the mean cosine similarity of
the image to the real prompts and to the fake prompts, at a temperature (CLIP's zero-shot
classification, Radford et al. 2021). Its threshold is still chosen on validation."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.detector import FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.frozen_clip import FrozenClipDetector, prompt_embeddings, similarities


class ClipZeroShot(FrozenClipDetector):
    def __init__(self, backbone: str = "ViT-B-32", pretrained: str = "openai", temperature: float = 0.01):
        """``temperature``: 0.01 is CLIP's learned logit scale of 100."""
        check_range("temperature", temperature, 0, inclusive=False)
        super().__init__(backbone, pretrained)
        self.temperature = float(temperature)
        self.real_text: torch.Tensor | None = None
        self.fake_text: torch.Tensor | None = None

    def uses_text(self) -> str | None:
        return "it scores by prompt similarity alone: choose another detector"

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        self.real_text, self.fake_text = prompt_embeddings(ctx)
        ctx.save_checkpoint(1, {})  # nothing to learn; scores val, where the threshold is chosen

    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        real, fake, _ = similarities(samples.features, self.real_text, self.fake_text).double().T
        # softmax over (real, fake) / T, fake column = sigmoid((fake - real) / T)
        return torch.sigmoid((fake - real) / self.temperature).numpy()

    def state_dict(self) -> dict:
        return {"real_text": self.real_text, "fake_text": self.fake_text, "temperature": self.temperature}

    def load_state_dict(self, state: dict) -> None:
        self.real_text, self.fake_text = state["real_text"], state["fake_text"]
        self.temperature = state["temperature"]


@hookimpl
def register_detectors(register):
    register("clip-zero-shot", ClipZeroShot)
