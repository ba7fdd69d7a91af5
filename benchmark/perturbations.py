"""Test-time degradations: the interface of ``register_perturbations`` plugins, and parsing a suite's
``perturbations`` list (``none``, ``jpeg:70``, ``blur:1.5``, ... or the ``gend`` preset).

A perturbation is applied to test images only, after decoding and before the detector's or the
encoder's own preprocessing, deterministically: its random draws are seeded by the perturbation and
the image's path, so reruns, workers and cache hits all see the same pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from benchmark.errors import BenchmarkError

CLEAN = "none"
# GenD (WACV'26)'s robustness grid
PRESETS = {"gend": [CLEAN, "jpeg:100", "jpeg:80", "jpeg:60", "jpeg:40", "jpeg:20", "jpeg:10", "blur:1", "blur:2",
                    "blur:3", "resize:0.875", "resize:0.5", "resize:0.25", "noise:0.02", "noise:0.05", "noise:0.1"]}


@dataclass(frozen=True)
class PerturbationKind:
    """A family of degradations with one numeric parameter, e.g. ``jpeg`` (quality)."""

    name: str
    apply: Callable[[Image.Image, float, np.random.Generator], Image.Image]  # RGB in, RGB out
    check: Callable[[float], None]  # raise ValueError("why") for a parameter out of range
    worse_when: str = "higher"  # how severity grows with the parameter: "higher" or "lower" (jpeg quality)
    version: str = "1"  # bump when the output changes: it is part of the embedding cache key


@dataclass(frozen=True)
class Perturbation:
    """One grid point: a kind and its parameter (``none`` is the clean image)."""

    kind: PerturbationKind | None
    param: float | None = None

    @property
    def name(self) -> str:
        return CLEAN if self.kind is None else f"{self.kind.name}:{self.param:g}"

    @property
    def identity(self) -> dict:
        return {} if self.kind is None else {"kind": self.kind.name, "param": self.param, "version": self.kind.version}

    def __call__(self, image: Image.Image, key: str) -> Image.Image:
        if self.kind is None:
            return image
        seed = int(hashlib.sha256(f"{self.name}\0{key}".encode()).hexdigest()[:15], 16)
        return self.kind.apply(image, self.param, np.random.default_rng(seed)).convert("RGB")


def expand(names) -> list[str]:
    """A preset name (``gend``) or a list that may contain presets -> the list of specs, clean first."""
    names = [names] if isinstance(names, str) else list(names)
    out = [spelled(p) for n in names for p in (PRESETS[n] if n in PRESETS else [n])]
    return list(dict.fromkeys([CLEAN, *out]))


def spelled(spec: str) -> str:
    """One spelling per grid point, the one :attr:`Perturbation.name` gives: ``jpeg:50.0`` -> ``jpeg:50``,
    so it is scored (and cached, and named in the run dir) once."""
    name, sep, value = str(spec).partition(":")
    try:
        return f"{name}:{float(value):g}" if sep else spec
    except ValueError:
        return spec  # parse() names what is wrong with it


def parse(spec: str, kinds, where: str) -> Perturbation:
    """``jpeg:70`` -> Perturbation; one-line errors name ``where`` (e.g. ``perturbations[2]``)."""
    if spec == CLEAN:
        return Perturbation(None)
    name, _, value = str(spec).partition(":")
    kind = kinds.get(name, where=where).value
    try:
        param = float(value)
    except ValueError:
        raise BenchmarkError(f"{where}: '{spec}' needs a number after '{name}:', e.g. {name}:{_example(name)}") from None
    try:
        kind.check(param)
    except ValueError as e:
        raise BenchmarkError(f"{where}: '{spec}': {e}") from None
    return Perturbation(kind, param)


def _example(name: str) -> str:
    return {"jpeg": "70", "blur": "1.5", "resize": "0.5", "noise": "0.05"}.get(name, "1")
