"""Frozen encoders (any registered library: open_clip, timm, torchvision, plugins): image embeddings
computed once per image per run, text embeddings once per prompt. Detectors with a frozen backbone
train on these, never on pixels."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from benchmark import plugins
from benchmark.data.images import image_loader
from benchmark.detector import EncoderSpec
from benchmark.encoders import ImageEncoder, split_backbone
from benchmark.errors import BenchmarkError
from benchmark.features.cache import FORMAT as CACHE_FORMAT
from benchmark.features.cache import EmbeddingCache
from benchmark.features.rows import RowStore, as_keys
from benchmark.perturbations import CLEAN


def resolve_encoder(spec: EncoderSpec) -> tuple[str, ImageEncoder, str]:
    """(library, its registered encoder, model name) for a backbone such as ``timm:resnet50``."""
    registry = plugins.collect().encoders
    library, model = split_backbone(spec.model, {entry.name for entry in registry})
    return library, registry.get(library, where=f"backbone {spec.model}").value, model


def fetch_start_weights(detectors) -> None:
    """Pretrained weights a fine-tuned network starts from (``ResolvedDetector.start``) that are not
    on this machine yet download now, once, so a failed download stops the run before it writes
    anything."""
    for detector in detectors:
        if detector.start is None:
            continue
        _, encoder, model = resolve_encoder(detector.start)
        if encoder.weights_missing(model, detector.start.pretrained):
            try:
                encoder.load(model, detector.start.pretrained, torch.device("cpu"))
            except BenchmarkError as e:
                raise BenchmarkError(f"detectors.{detector.name}.{e}") from None


def _as_stored(embeddings: torch.Tensor) -> torch.Tensor:
    """Embeddings are cached at float16 precision; every run uses the float16-rounded values, so
    its metrics do not depend on whether the cache was cold, warm or off."""
    return embeddings.half().float()


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


BATCH_SIZE = 64  # images per encoder call; a Ray shard is a whole number of batches, so its batches match


class FrozenEncoder:
    """One loaded frozen model; encodes images (by path) and text, L2-normalised, float32 on CPU."""

    def __init__(self, spec: EncoderSpec, device: torch.device, workers: int = 0, batch_size: int = BATCH_SIZE,
                 fast_decode: bool = False, made=None):
        self.spec = spec
        self.made = made  # pseudo-fakes (fixed blends) among the paths: generated while decoding
        self.device = device
        self.workers = workers
        self.batch_size = batch_size
        _, encoder, model = resolve_encoder(spec)
        self.loaded = encoder.load(model, spec.pretrained, device)
        self.preprocess = self.loaded.preprocess
        self.draft_size = self.loaded.image_size if fast_decode else None

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        if self.loaded.encode_text is None:
            raise BenchmarkError(f"backbone {self.spec.model} encodes images only; this detector needs text "
                                 "(prompts): use an open_clip backbone")
        with _autocast(self.device):
            text = self.loaded.encode_text(list(texts))
        return _as_stored(torch.nn.functional.normalize(text.float(), dim=-1).cpu())

    def encode_paths(self, paths: list[str], advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
        """(len(paths), dim) embeddings, in order."""
        if not paths:
            raise BenchmarkError("no images to encode")
        out: torch.Tensor | None = None
        for indices, embeddings in self.iter_encode(paths):
            if out is None:
                out = torch.empty(len(paths), embeddings.shape[1])
            out[indices] = embeddings
            advance(len(indices))
        return out

    @torch.inference_mode()
    def iter_encode(self, paths: list[str], perturb=None, keys=None):
        """(indices, embeddings) per batch, in order, decoded by parallel workers; ``perturb`` degrades
        each decoded image first (its randomness seeded by ``keys``, else the paths)."""
        pin = self.device.type == "cuda"
        loader = image_loader(paths, self.preprocess, self.batch_size, self.workers, pin, self.draft_size, perturb, keys,
                              self.made)
        for images, indices, errors in loader:
            if errors:  # files are checked before encoding; this one changed since
                index, message = errors[0]
                raise BenchmarkError(f"cannot read image {paths[index]}: {message}; remove or replace the file")
            with _autocast(self.device):
                embeddings = self.loaded.encode_image(images.to(self.device, non_blocking=True))
            yield indices, _as_stored(torch.nn.functional.normalize(embeddings.float(), dim=-1).cpu())


SHARD_ROWS = 2048  # images per committed cache shard during an encoding pass


def default_workers() -> int:
    """Decode in parallel with the encoder, but leave a core for it."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def decoder_name(fast_decode: bool) -> str:
    """How files become pixels: part of every image embedding's identity."""
    return "pil-rgb-exif-jpegdraft-v1" if fast_decode else "pil-rgb-exif-v1"


def encoder_identity(spec: EncoderSpec, file_hash: Callable[[str], str], fast_decode: bool = False) -> dict:
    """Everything that changes an embedding, without loading the model: the library's own identity
    (version, model, weights, preprocessing, layer), the image decoder and the cache format."""
    library, encoder, model = resolve_encoder(spec)
    return {**encoder.identity(model, spec.pretrained, file_hash), "library": library,
            "decoder": decoder_name(fast_decode), "cache_format": CACHE_FORMAT}


def encoder_key(spec: EncoderSpec, file_hash: Callable[[str], str], fast_decode: bool = False) -> str:
    """Hash of :func:`encoder_identity`: the embedding cache's key."""
    identity = encoder_identity(spec, file_hash, fast_decode)
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]


class FeatureStore:
    """Embeddings for every frozen encoder of a run: from the persistent cache when there, else
    encoded once and added to it. The model itself is loaded only when something is missing.

    Rows are never copied per image: each (encoder, perturbation) has a :class:`RowStore` that
    refers to the cache's memory-mapped shards (or holds what was encoded without a cache), and
    :meth:`images` gathers a whole split into one array at once."""

    def __init__(self, device: torch.device, workers: int, cache_root: Path | None, file_hash: Callable[[str], str],
                 fast_decode: bool = False, made=None):
        self.fast_decode = fast_decode
        self.made = made  # pseudo-fakes: file_hash gives their identity, the encoder generates their pixels
        self.device = device
        self.workers = workers
        self.cache_root = cache_root
        self.file_hash = file_hash
        self.encoders: dict[EncoderSpec, FrozenEncoder] = {}
        # caches, keys and memory are per (encoder, perturbation): a degraded image is another input
        self.caches: dict[tuple, EmbeddingCache] = {}
        self.keys: dict[tuple, str] = {}
        self.memory: dict[tuple, RowStore] = {}
        self.text_memory: dict[EncoderSpec, dict[str, torch.Tensor]] = {}
        self.counts = {"images_encoded": 0, "cache_hits": 0, "models_loaded": 0, "damaged_shards_rebuilt": 0}

    def key(self, spec: EncoderSpec, perturb=None) -> str:
        """The encoder's identity (see :func:`encoder_key`), plus the perturbation's, computed once."""
        name = _name(perturb)
        if (spec, name) not in self.keys:
            key = encoder_key(spec, self.file_hash, self.fast_decode)
            if perturb is not None and perturb.identity:
                blob = json.dumps({"encoder": key, "perturbation": perturb.identity}, sort_keys=True).encode()
                key = hashlib.sha256(blob).hexdigest()[:32]
            self.keys[spec, name] = key
        return self.keys[spec, name]

    def _cache(self, spec: EncoderSpec, perturb=None) -> EmbeddingCache | None:
        if self.cache_root is None:
            return None
        slot = (spec, _name(perturb))
        if slot not in self.caches:
            self.caches[slot] = EmbeddingCache(self.cache_root, self.key(spec, perturb))
            self.counts["damaged_shards_rebuilt"] += self.caches[slot].rebuilt
        return self.caches[slot]

    def _memory(self, spec: EncoderSpec, perturb=None) -> RowStore:
        return self.memory.setdefault((spec, _name(perturb)), RowStore())

    def encoder(self, spec: EncoderSpec) -> FrozenEncoder:
        if spec not in self.encoders:
            self.encoders[spec] = FrozenEncoder(spec, self.device, workers=self.workers, fast_decode=self.fast_decode,
                                                made=self.made)
            self.counts["models_loaded"] += 1
        return self.encoders[spec]

    def needs_encoder(self, spec: EncoderSpec, paths: list[str], texts: list[str], perturb=None) -> bool:
        cache, text_cache = self._cache(spec, perturb), self._cache(spec)
        if cache is None:
            return True
        images = as_keys([self.file_hash(p) for p in paths])
        return bool((cache.find(images) < 0).any() or (text_cache.find(as_keys(map(_text_key, texts))) < 0).any())

    def images(self, spec: EncoderSpec, paths: list[str], progress=None, perturb=None) -> torch.Tensor:
        """(len(paths), dim) normalised float32 embeddings (of the images degraded by ``perturb``)."""
        digests = self.ensure(spec, paths, progress, perturb)
        memory = self._memory(spec, perturb)
        return torch.from_numpy(memory.gather(memory.find(as_keys(digests))))

    def ensure(self, spec: EncoderSpec, paths: list[str], progress=None, perturb=None) -> list[str]:
        """Encode what neither this run nor the cache holds yet (nothing is gathered); the digests."""
        digests = [self.file_hash(p) for p in paths]
        missing_paths, missing = self.pending(spec, paths, perturb, digests)
        if missing:
            self._encode(spec, missing_paths, missing, progress, perturb)
        return digests

    def pending(self, spec: EncoderSpec, paths: list[str], perturb=None, digests=None) -> tuple[list[str], list[str]]:
        """(paths, content digests) of the images still to encode, one path per content, in order;
        everything the cache holds is linked into this run's rows (no copy)."""
        digests = digests if digests is not None else [self.file_hash(p) for p in paths]
        memory = self._memory(spec, perturb)
        keys = as_keys(digests)
        absent = np.flatnonzero(memory.find(keys) < 0)
        if not len(absent):
            return [], []
        # one path per content, in the order first met
        _, first = np.unique(keys[absent], return_index=True)
        wanted = absent[np.sort(first)]
        cache = self._cache(spec, perturb)
        if cache is not None:
            at = cache.find(keys[wanted])
            hit = at >= 0
            memory.link(keys[wanted[hit]], cache, at[hit])
            self.counts["cache_hits"] += int(hit.sum())
            wanted = wanted[~hit]
        return [paths[i] for i in wanted], [digests[i] for i in wanted]

    def add(self, spec: EncoderSpec, digests: list[str], embeddings: torch.Tensor, perturb=None) -> None:
        """Embeddings encoded elsewhere (a Ray task): committed to the cache as one shard, and held."""
        self.counts["images_encoded"] += len(digests)
        self._hold(spec, perturb, digests, embeddings.numpy())

    def _hold(self, spec, perturb, digests: list[str], rows: np.ndarray) -> None:
        """Rows encoded in this process: into the cache when there is one (its shard is then what this run
        reads), else held in memory as float16 (the precision every run uses)."""
        cache, memory, keys = self._cache(spec, perturb), self._memory(spec, perturb), as_keys(digests)
        if cache is not None:
            cache.put(digests, rows)
            # the shard just committed (the cache's last source), shared: no lookup in the cache's index,
            # which would re-sort it once per shard of a long encoding pass
            memory.add(keys, cache.sources[-1])
        else:
            memory.add(keys, np.ascontiguousarray(rows, dtype=np.float16))

    def snapshot(self, spec: EncoderSpec) -> dict:
        """What a worker needs to train on ``spec`` without the model or the cache: its embeddings
        (float16, as stored) with their digests, its text embeddings and its keys."""
        images = {}
        for slot, rows in self.memory.items():
            if slot[0] == spec and len(rows):
                keys = rows.index.keys.copy()
                images[slot] = (keys, torch.from_numpy(rows.gather(rows.find(keys), dtype=np.float16)))
        return {"images": images, "texts": {spec: self.text_memory.get(spec, {})},
                "keys": {slot: key for slot, key in self.keys.items() if slot[0] == spec}}

    def preload(self, snapshot: dict) -> None:
        for slot, (keys, matrix) in snapshot["images"].items():
            self.memory.setdefault(slot, RowStore()).add(keys, matrix.numpy())
        for spec, rows in snapshot["texts"].items():
            self.text_memory.setdefault(spec, {}).update(rows)
        self.keys.update(snapshot["keys"])

    def _encode(self, spec, paths, digests, progress, perturb=None) -> None:
        """Encode ``paths``, committing a cache shard every SHARD_ROWS images, so a kill during a
        long pass loses at most one shard of work."""
        what = f" ({perturb.name})" if perturb is not None and perturb.identity else ""
        task = progress.add_task(f"encode {spec.model}{what}", total=len(paths), stats="") if progress else None
        done, blocks, size = 0, [], 0
        for indices, embeddings in self.encoder(spec).iter_encode(paths, perturb, digests):
            blocks.append(embeddings.numpy())  # batches come in order: indices run on from done
            size += len(indices)
            self.counts["images_encoded"] += len(indices)
            if progress:
                progress.advance(task, len(indices))
            while blocks and (size >= SHARD_ROWS or done + size == len(paths)):
                rows = np.concatenate(blocks)
                take = min(SHARD_ROWS, len(rows))
                self._hold(spec, perturb, digests[done:done + take], rows[:take])
                done, size = done + take, size - take
                blocks = [rows[take:]] if size else []
        if progress:
            progress.remove_task(task)

    def texts(self, spec: EncoderSpec, texts: list[str]) -> torch.Tensor:
        memory = self.text_memory.setdefault(spec, {})
        missing = [t for t in dict.fromkeys(texts) if t not in memory]
        if missing:
            cache = self._cache(spec)  # text is never perturbed
            keys = [_text_key(t) for t in missing]
            if cache is not None and (cache.find(as_keys(keys)) >= 0).all():
                embeddings = torch.from_numpy(cache.get(keys))
            else:
                embeddings = self.encoder(spec).encode_text(missing)
                if cache is not None:
                    cache.put(keys, embeddings.numpy())
            memory.update(zip(missing, embeddings))
        return torch.stack([memory[t] for t in texts])


def _name(perturb) -> str:
    return perturb.name if perturb is not None else CLEAN


def _text_key(text: str) -> str:
    return hashlib.sha256(b"text\0" + text.encode()).hexdigest()
