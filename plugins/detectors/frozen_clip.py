"""What every detector on frozen open_clip embeddings shares: which encoder, and the prompt
similarity features the reference detector and the zero-shot baseline are built on."""

from __future__ import annotations

import torch

from benchmark.detector import Detector, EncoderSpec, FitContext


class FrozenClipDetector(Detector):
    """A detector that trains and scores on the harness's cached open_clip image embeddings."""

    def __init__(self, backbone: str = "ViT-B-32", pretrained: str = "openai"):
        self.backbone = backbone
        self.pretrained = pretrained

    def frozen_encoder(self) -> EncoderSpec:
        return EncoderSpec(self.backbone, self.pretrained)


def prompt_embeddings(ctx: FitContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, fake) normalised text embeddings of the detector's prompt set."""
    real, fake = list(ctx.prompts.real), list(ctx.prompts.fake)
    text = ctx.encode_text(real + fake)
    return text[: len(real)], text[len(real):]


def similarities(image: torch.Tensor, real_text: torch.Tensor, fake_text: torch.Tensor) -> torch.Tensor:
    """(n, dim) normalised embeddings -> (n, 3): mean cosine to real prompts, to fake, fake - real."""
    real = (image @ real_text.T).mean(dim=1)
    fake = (image @ fake_text.T).mean(dim=1)
    return torch.stack([real, fake, fake - real], dim=1)
