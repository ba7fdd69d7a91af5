"""Frozen open_clip encoders: image embeddings computed once per image per run, text embeddings
once per prompt. Detectors with a frozen backbone train on these, never on pixels."""

from __future__ import annotations

import contextlib
import difflib
import os
from pathlib import Path
from typing import Callable

import torch

from benchmark.detector import EncoderSpec
from benchmark.errors import BenchmarkError
from benchmark.images import image_loader


def load_open_clip(spec: EncoderSpec, device: torch.device):
    """(model, preprocess, tokenizer) with weights from an open_clip tag, a local file, or none."""
    import open_clip  # slow import: only when a model is really needed

    model_name = register_config_file(spec.model)
    if model_name not in open_clip.list_models():
        close = difflib.get_close_matches(spec.model, open_clip.list_models(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BenchmarkError(f"backbone: unknown open_clip model '{spec.model}'{hint}")
    pretrained = spec.pretrained
    if pretrained in (None, "none", "None", ""):
        pretrained = None
    elif not Path(pretrained).is_file():
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if pretrained not in tags:
            known = ", ".join(tags) if tags else "none published for this model"
            raise BenchmarkError(
                f"pretrained: '{pretrained}' is neither a weights file nor a tag of {spec.model} "
                f"(tags: {known}); set pretrained to a tag, a local file, or none"
            )
    try:
        # random init ("none") must be the same in every run, or runs and cached embeddings differ
        with _quiet_open_clip(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except Exception as e:  # noqa: BLE001 - download and file errors have many types
        raise BenchmarkError(
            f"pretrained: cannot load weights '{spec.pretrained}' for {spec.model} "
            f"({str(e).splitlines()[0][:160]}); set pretrained to a local weights file, or to none for random init"
        ) from None
    model.eval().requires_grad_(False).to(device)
    return model, preprocess, open_clip.get_tokenizer(model_name)


def register_config_file(backbone: str) -> str:
    """A backbone may be an open_clip model config JSON file (a custom or tiny architecture):
    register it with open_clip and return the model name (the file's stem)."""
    import open_clip

    path = Path(backbone)
    if path.suffix != ".json":
        return backbone
    if not path.is_file():
        raise BenchmarkError(f"backbone: config file {backbone} does not exist")
    open_clip.add_model_config(path)
    return path.stem


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs a warning for random init; the run's own facts already say so."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class FrozenEncoder:
    """One loaded frozen model; encodes images (by path) and text, L2-normalised, float32 on CPU."""

    def __init__(self, spec: EncoderSpec, device: torch.device, workers: int = 0, batch_size: int = 64):
        self.spec = spec
        self.device = device
        self.workers = workers
        self.batch_size = batch_size
        self.model, self.preprocess, self.tokenizer = load_open_clip(spec, device)

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        with _autocast(self.device):
            text = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(text.float(), dim=-1).cpu()

    @torch.inference_mode()
    def encode_paths(self, paths: list[str], advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
        if not paths:
            raise BenchmarkError("no images to encode")
        out: torch.Tensor | None = None
        pin = self.device.type == "cuda"
        for images, indices, errors in image_loader(paths, self.preprocess, self.batch_size, self.workers, pin):
            if errors:
                index, message = errors[0]
                raise BenchmarkError(f"cannot read image {paths[index]}: {message}; remove or replace the file")
            with _autocast(self.device):
                embeddings = self.model.encode_image(images.to(self.device, non_blocking=True))
            embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1).cpu()
            if out is None:
                out = torch.empty(len(paths), embeddings.shape[1])
            out[indices] = embeddings
            advance(len(indices))
        return out


def default_workers() -> int:
    """Decode in parallel with the encoder, but leave a core for it."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))
