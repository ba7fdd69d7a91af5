"""``benchmark perf --generator NAME``: how fast a pseudo-fake generator is, and what generating in the
decoding workers costs an epoch, as JSON.

* ``blends_per_s_per_core``: fixed blends made one after another in this process (one core);
* an epoch of a pixel detector (pixel-cnn unless ``--train`` names another) on real + fresh
  pseudo-fakes, against the same detector on real + as many *stored* fakes (the same blends written
  to disk first, in the real images' format): the difference is the generation the workers add.
  After a warm-up each side runs three times, alternating (A B, B A, A B); the fastest of each counts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmark import plugins as plugin_registry
from benchmark.data.facts import sha256_file
from benchmark.detector import Samples
from benchmark.environment import describe_device, resolve_device
from benchmark.errors import BenchmarkError
from benchmark.features.cache import default_cache_dir
from benchmark.features.encoders import default_workers
from benchmark.perf_train import _harness_epoch, _images
from benchmark.pseudo.drawn import make_face_videos
from benchmark.pseudo.fakes import PseudoFakes
from benchmark.pseudo.landmarks import find_landmarks
from benchmark.pseudo.resolve import build_generator


def run_generator_perf(name: str, data_dir: str | None, real: str = "Real", limit: int | None = 100,
                       workers: int | None = None, device: str = "auto", detector: str | None = None,
                       options: dict | None = None, log=lambda line: None) -> dict:
    registry = plugin_registry.collect()
    resolved = build_generator(name, {}, registry.generators, "perf --generator")
    detector = detector or "pixel-cnn"
    found = registry.detectors.get(detector, where="perf --generator --train")
    scratch = Path(tempfile.mkdtemp(prefix="benchmark-perf-generator-"))
    if data_dir is None:
        data_dir = make_face_videos(scratch / "data", {real: (0, 0, 0), "Drawn": (40, 0, 0)}, videos=limit or 100,
                                    frames=1, size=256)
    paths, labels = _images(Path(data_dir), real, limit or 10**9)
    reals = [p for p, label in zip(paths, labels) if label == 0]
    if not reals:
        raise BenchmarkError(f"perf --generator: no images in {Path(data_dir) / real}; pass --real")
    digests = {p: sha256_file(p) for p in reals}
    log(f"perf --generator {name}: landmarks of {len(reals)} real images")
    landmarks = find_landmarks(reals, digests.__getitem__, default_cache_dir(), workers=0)
    fakes = PseudoFakes({name: resolved})
    fakes.add_part(name, "train", reals, landmarks, digests.__getitem__, {p: p for p in reals})
    fixed = fakes.names(name, "train", fresh=False)
    started = time.perf_counter()
    stored = []
    for index, fake_name in enumerate(fixed):
        fake, _ = fakes.make(fake_name)
        source = Path(fakes.recipes[fake_name].source)
        target = scratch / "stored" / f"{index:05d}{source.suffix.lower()}"  # the real images' format
        target.parent.mkdir(parents=True, exist_ok=True)
        stored.append(str(target))
        Image.fromarray(fake).save(target, quality=95) if source.suffix.lower() in (".jpg", ".jpeg") else \
            Image.fromarray(fake).save(target)
        if index == 0:
            started = time.perf_counter()  # the first blend pays for imports
    made = max(1, len(fixed) - 1)
    per_core = made / max(time.perf_counter() - started, 1e-9)
    blended = [fakes.recipes[n].source for n in fixed]
    fresh = fakes.names(name, "train", fresh=True)
    torch_device = resolve_device(device)
    workers = default_workers() if workers is None else workers
    options = {**(options or {}), "epochs": 1}
    sides = {"stored": Samples(paths=[*blended, *stored], labels=np.r_[np.zeros(len(blended)), np.ones(len(stored))]
                               .astype(np.int64)),
             "generated": Samples(paths=[*blended, *fresh], labels=np.r_[np.zeros(len(blended)), np.ones(len(fresh))]
                                  .astype(np.int64))}
    log(f"perf --generator {name}: warm-up epoch of {detector} on {len(sides['stored'])} images")
    _harness_epoch(found.value, options, sides["stored"], torch_device, workers)
    times = {"stored": [], "generated": []}
    for round_ in (1, 2, 3):
        for side in ("stored", "generated") if round_ != 2 else ("generated", "stored"):
            log(f"perf --generator {name}: {side} epoch, round {round_}")
            seconds, _ = _harness_epoch(found.value, options, sides[side], torch_device, workers,
                                        made=fakes if side == "generated" else None)
            times[side].append(seconds)
    best = {side: min(values) for side, values in times.items()}
    height, width = np.asarray(Image.open(blended[0])).shape[:2]
    return {
        "device": describe_device(torch_device), "generator": name, "detector": detector, "options": options,
        "real_images": len(reals), "blended": len(blended), "image_size": [width, height], "workers": workers,
        "threads": torch.get_num_threads(),
        "blends_per_s_per_core": round(per_core, 1),
        "epoch_stored_fakes_s": [round(s, 3) for s in times["stored"]],
        "epoch_generated_s": [round(s, 3) for s in times["generated"]],
        "generated_over_stored": round(best["generated"] / best["stored"], 3),
        "goal": "generated_over_stored <= 1.3",
    }
