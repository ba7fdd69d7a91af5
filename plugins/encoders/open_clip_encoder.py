"""open_clip models: image and text encoders (``backbone: ViT-B-32`` or ``open_clip:ViT-B-32``).

``pretrained``: an open_clip tag (downloads once from the hub), a local weights file, or none. A
backbone may also be a model config JSON file (a custom or tiny architecture)."""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from importlib import metadata
from pathlib import Path

import torch

from benchmark.encoders import NO_WEIGHTS, ImageEncoder, LoadedEncoder
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write
from benchmark.hookspecs import hookimpl


def register_config_file(backbone: str) -> str:
    """A backbone may be an open_clip model config JSON file: register it with open_clip and return
    the model name (the file's stem)."""
    import open_clip

    path = Path(backbone)
    if path.suffix != ".json":
        return backbone
    if not path.is_file():
        raise BenchmarkError(f"backbone: config file {backbone} does not exist")
    open_clip.add_model_config(path)
    return path.stem


def _library_version() -> str:
    try:
        return metadata.version("open_clip_torch")
    except metadata.PackageNotFoundError:
        return "unknown"


def _identities_file() -> Path:
    from benchmark.features.cache import default_cache_dir

    return default_cache_dir() / "open-clip-identities.json"


def _identities() -> dict:
    try:
        memo = json.loads(_identities_file().read_text())
        return memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_identities(memo: dict) -> None:
    try:
        atomic_write(_identities_file(), json.dumps(memo))
    except OSError:
        pass  # an unwritable home only costs importing open_clip next time


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs a warning for random init; the run's own facts already say so."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL + 1)  # its failed-download ERROR is said again, in one line, by us
    try:
        yield
    finally:
        root.setLevel(level)


class OpenClipEncoder(ImageEncoder):
    has_text = True

    def _model_name(self, model: str) -> str:
        import open_clip

        name = register_config_file(model)
        if name not in open_clip.list_models():
            close = difflib.get_close_matches(model, open_clip.list_models(), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise BenchmarkError(f"backbone: unknown open_clip model '{model}'{hint}")
        return name

    def identity(self, model, pretrained, file_hash) -> dict:
        """Remembered per (open_clip version, model, weights), with the hashes of files among them:
        importing open_clip costs seconds, and a warm start needs nothing else from it."""
        files = [file_hash(f) if f not in NO_WEIGHTS and f.endswith((".json", ".pt", ".pth", ".bin", ".safetensors"))
                 and Path(f).is_file() else None for f in (model, pretrained)]
        key = json.dumps([_library_version(), model, pretrained, *files])
        memo = _identities()
        if key not in memo:
            memo[key] = json.loads(json.dumps(self._identity(model, pretrained, file_hash), default=str))
            _save_identities(memo)
        return memo[key]

    def _identity(self, model, pretrained, file_hash) -> dict:
        import open_clip

        name = self._model_name(model)
        if pretrained in NO_WEIGHTS:
            weights, pretrained_cfg = "random-init:seed0", {}
        elif Path(pretrained).is_file():
            weights, pretrained_cfg = "file:" + file_hash(pretrained), {}
        else:
            weights, pretrained_cfg = "tag:" + pretrained, open_clip.get_pretrained_cfg(name, pretrained)
        return {
            "open_clip": open_clip.__version__,
            "model": name,
            "model_cfg": open_clip.get_model_config(name),
            "weights": weights,
            # mean/std, interpolation and resize mode come from here; the rest from model_cfg
            "preprocess": {k: v for k, v in pretrained_cfg.items() if k not in ("url", "hf_hub")},
            "layer": "encode_image (projected)",
        }

    def weights_missing(self, model, pretrained) -> bool:
        """A tag whose file is in neither the Hugging Face cache nor open_clip's URL cache."""
        if pretrained in NO_WEIGHTS or Path(pretrained).is_file():
            return False  # before importing open_clip: that costs seconds
        import open_clip
        from huggingface_hub import try_to_load_from_cache

        cfg = open_clip.get_pretrained_cfg(self._model_name(model), pretrained)
        if not cfg or "file" in cfg:
            return False
        model_id, filename = os.path.split(cfg.get("hf_hub", ""))  # open_clip's own reading: "org/model/[file]"
        if model_id:
            names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
            if any(isinstance(try_to_load_from_cache(model_id, name), str) for name in names):
                return False
        url = cfg.get("url", "")
        return not (url and (Path.home() / ".cache" / "clip" / Path(url).name).is_file())

    def load(self, model, pretrained, device) -> LoadedEncoder:
        import open_clip  # slow import: only when a model is really needed

        name = self._model_name(model)
        weights = None if pretrained in NO_WEIGHTS else pretrained
        if weights is not None and not Path(weights).is_file():
            tags = open_clip.list_pretrained_tags_by_model(name)
            if weights not in tags:
                known = ", ".join(tags) if tags else "none published for this model"
                raise BenchmarkError(f"pretrained: '{weights}' is neither a weights file nor a tag of {model} "
                                     f"(tags: {known}); set pretrained to a tag, a local file, or none")
        try:
            # random init ("none") must be the same in every run, or runs and cached embeddings differ
            with _quiet_open_clip(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                clip, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights, device=device)
        except Exception as e:  # noqa: BLE001 - download and file errors have many types
            raise BenchmarkError(
                f"pretrained: cannot load weights '{pretrained}' for {model} ({str(e).splitlines()[0][:160]}); "
                "set pretrained to a local weights file, or to none for random init") from None
        clip.eval().requires_grad_(False).to(device)
        tokenizer = open_clip.get_tokenizer(name)
        size = clip.visual.preprocess_cfg.get("size", 224)
        return LoadedEncoder(
            preprocess=preprocess, encode_image=clip.encode_image,
            image_size=max(size) if isinstance(size, (tuple, list)) else int(size),
            encode_text=lambda texts: clip.encode_text(tokenizer(list(texts)).to(device)), module=clip,
            image_module=clip.visual, mean=tuple(clip.visual.preprocess_cfg["mean"]),
            std=tuple(clip.visual.preprocess_cfg["std"]))


@hookimpl
def register_encoders(register):
    register("open_clip", OpenClipEncoder())
