"""Pseudo-fakes as samples: which real image each is made from, its name, its identity, its pixels.

A pseudo-fake is named after its source, ``<real path>#<generator>:<k>`` for the k-th *fixed*
blend (the same pixels every time: what frozen-feature detectors encode once and cache, and every
validation fake) or ``<real path>#<generator>`` for a *fresh* blend (new pixels every pass over the
data: what pixel detectors train on, as SBI does). Listed images always end in an image suffix, so
no name can be a file's. Names travel through ``Samples.paths`` like files; whatever decodes
images (``ImageFiles``) asks :meth:`PseudoFakes.image` for the pixels of a name it holds.

Provenance is by construction: the pseudo-fakes of a training set's train part are made from its
train reals only (and, for blends with a partner, a partner of that same split), those of its val
part from val reals; a test image is never a source (:meth:`PseudoFakes.check` says so in the run).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from benchmark.data.images import load_rgb
from benchmark.detector import Samples
from benchmark.errors import BenchmarkError

PARTNERS = 8  # nearest faces (by landmarks) a partner is drawn from, as Face X-ray draws among near ones
NAMED = 50  # unblended images listed by name in the audit (all are counted)


@dataclass(frozen=True)
class Recipe:
    generator: str  # the suite's name for it
    split: str
    source: str  # the real image it is made from
    landmarks: np.ndarray  # (68, 2) of the source, in its pixels
    partners: tuple  # ((path, landmarks), ...): faces of the same split it may blend in
    digest: str  # identity of a fixed blend: what the embedding cache keys it by
    index: int | None  # k of a fixed blend; None: fresh every pass


def _seed(*parts) -> int:
    return int(hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:15], 16)


def shape_vector(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks without position and scale: what "nearest face" compares."""
    points = np.asarray(landmarks, np.float64)
    centred = points - points.mean(0)
    return (centred / max(np.sqrt((centred ** 2).sum(1).mean()), 1e-6)).ravel()


def nearest_partners(paths: list[str], landmarks: dict, videos: dict) -> dict[str, tuple]:
    """path -> up to PARTNERS (path, landmarks) of the faces nearest in shape among ``paths``,
    other videos only (a frame of the same video is the same face)."""
    from sklearn.neighbors import NearestNeighbors

    if len(paths) < 2:
        return {p: () for p in paths}
    shapes = np.stack([shape_vector(landmarks[p]) for p in paths])
    per_video = max(Counter(videos[p] for p in paths).values())  # same-video frames are skipped: ask past them
    wanted = min(len(paths), PARTNERS + per_video)
    _, neighbours = NearestNeighbors(n_neighbors=wanted).fit(shapes).kneighbors(shapes)
    partners = {}
    for path, row in zip(paths, neighbours):
        near = [paths[j] for j in row if videos[paths[j]] != videos[path]][:PARTNERS]
        partners[path] = tuple((p, landmarks[p]) for p in near)
    return partners


class PseudoFakes:
    """Every pseudo-fake a run may train or validate on, by name; picklable (it travels to the
    decoding workers and Ray tasks)."""

    def __init__(self, generators: dict):
        self.generators = {name: resolved.generator for name, resolved in generators.items()}
        self.keys = {name: resolved.key for name, resolved in generators.items()}
        self.per_image = {name: resolved.per_image for name, resolved in generators.items()}
        self.recipes: dict[str, Recipe] = {}
        self.parts: dict[tuple[str, str], dict] = {}  # (generator, split) -> counts and names of the unblended
        self._names: dict[tuple[str, str, bool], list[str]] = {}  # (generator, split, fresh) -> names, in order

    def __contains__(self, path) -> bool:
        return path in self.recipes

    def __len__(self) -> int:
        return len(self.recipes)

    # -- building ----------------------------------------------------------------------------
    def add_part(self, name: str, split: str, reals: list[str], landmarks: dict, digest_of, videos: dict) -> None:
        """The pseudo-fakes of ``reals`` (one split's real images of the training set ``name``)."""
        usable = [p for p in reals if landmarks.get(p) is not None]
        unblended = [(p, "no face or landmarks found") for p in reals if landmarks.get(p) is None]
        partners = {}
        if self.generators[name].partners:
            partners = nearest_partners(usable, landmarks, videos)
            unblended += [(p, "no partner face of another video in this split") for p in usable if not partners[p]]
            usable = [p for p in usable if partners[p]]
        fixed = self.per_image[name] if split == "train" else 1
        for path in usable:
            near = partners.get(path, ())
            source_digest = digest_of(path)
            for k in range(fixed):
                digest = hashlib.sha256(json.dumps([source_digest, self.keys[name], k, [digest_of(p) for p, _ in near]]
                                                   ).encode()).hexdigest()
                self.recipes[f"{path}#{name}:{k}"] = Recipe(name, split, path, landmarks[path], near, digest, k)
                self._names.setdefault((name, split, False), []).append(f"{path}#{name}:{k}")
            if split == "train":
                fresh = hashlib.sha256(json.dumps(["fresh", source_digest, self.keys[name]]).encode()).hexdigest()
                self.recipes[f"{path}#{name}"] = Recipe(name, split, path, landmarks[path], near, fresh, None)
                self._names.setdefault((name, split, True), []).append(f"{path}#{name}")
        self.parts[name, split] = {"real": len(reals), "blended": len(usable), "not_blended": len(unblended),
                                   "examples": [{"path": p, "why": why} for p, why in unblended[:NAMED]]}
        if not usable:
            why = unblended[0][1] if unblended else "no real images"
            fix = ("it blends faces of two different videos: give the split more real videos" if "partner" in why
                   else "give face images (or frames from `benchmark prepare --landmarks`)")
            raise BenchmarkError(f"generators.{name}: none of the {len(reals)} real {split} images can be blended "
                                 f"({why}); {fix}")

    # -- what a cell reads ---------------------------------------------------------------------
    def names(self, name: str, split: str, fresh: bool) -> list[str]:
        """The pseudo-fakes of one part: fresh ones (train, pixel detectors) or the fixed ones."""
        return list(self._names.get((name, split, fresh), ()))  # kept per part: no scan of every recipe per call

    def with_fakes(self, reals: Samples, name: str, split: str, fresh: bool) -> Samples:
        """``reals`` (one split of a generator's training set) plus its pseudo-fakes (label 1)."""
        fakes = self.names(name, split, fresh and split == "train")
        return Samples(paths=[*reals.paths, *fakes],
                       labels=np.concatenate([reals.labels, np.ones(len(fakes), dtype=np.int64)]))

    def digest(self, path: str) -> str:
        return self.recipes[path].digest

    def digest_or(self, file_hash):
        return _Digests(self, file_hash)

    # -- pixels --------------------------------------------------------------------------------
    def make(self, path: str, pass_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(fake, mask) of one pseudo-fake: a fixed one from its identity, a fresh one from
        (``pass_seed``, its source's digest): the same in any worker process, on any machine."""
        recipe = self.recipes[path]
        if recipe.index is None and pass_seed is None:
            raise BenchmarkError(f"{path}: a fresh pseudo-fake needs the pass's seed (a harness bug, please report it)")
        seed = _seed(recipe.digest) if recipe.index is not None else _seed(pass_seed, recipe.digest)
        rng = np.random.default_rng(seed)
        image = np.asarray(load_rgb(recipe.source))
        partner = None
        if recipe.partners:
            other, marks = recipe.partners[int(rng.integers(len(recipe.partners)))]
            partner = (np.asarray(load_rgb(other)), marks)
        fake, mask = self.generators[recipe.generator].make(image, recipe.landmarks, rng, partner)
        return np.asarray(fake, np.uint8), np.asarray(mask, np.float32)

    def image(self, path: str, pass_seed: int | None = None) -> Image.Image:
        return Image.fromarray(self.make(path, pass_seed)[0])

    # -- provenance ------------------------------------------------------------------------------
    def provenance(self) -> list[dict]:
        return [{"path": p, "generator": r.generator, "split": r.split, "source": r.source,
                 "partners": " ".join(path for path, _ in r.partners), "fixed": r.index is not None}
                for p, r in self.recipes.items()]

    def check(self, split_of: dict[str, str]) -> None:
        """Every source and partner is a real image of its pseudo-fake's own split (a harness bug otherwise)."""
        for path, recipe in self.recipes.items():
            for used in (recipe.source, *(p for p, _ in recipe.partners)):
                if split_of.get(used) != recipe.split:
                    raise BenchmarkError(f"pseudo-fake {path} derives from {used} ({split_of.get(used)} split), "
                                         f"not from the {recipe.split} split; this is a harness bug, please report it")

    def audit(self) -> dict:
        return {f"{name}/{split}": dict(part) for (name, split), part in self.parts.items()}


class _Digests:
    """file_hash for a run with pseudo-fakes: a pseudo-fake's identity, else the file's content digest."""

    def __init__(self, fakes: PseudoFakes, file_hash):
        self.fakes, self.file_hash = fakes, file_hash

    def __call__(self, path: str) -> str:
        recipe = self.fakes.recipes.get(path)
        return recipe.digest if recipe is not None else self.file_hash(path)
