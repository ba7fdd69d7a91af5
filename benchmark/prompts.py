"""Prompt sets: text describing real and fake faces, compared with image embeddings."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptSet:
    real: tuple[str, ...]
    fake: tuple[str, ...]

    def __init__(self, real, fake):
        if not real or not fake:
            raise ValueError("a PromptSet needs at least one real and one fake prompt")
        object.__setattr__(self, "real", tuple(real))
        object.__setattr__(self, "fake", tuple(fake))
