"""``benchmark perf --train DETECTOR``: training throughput of a pixel detector through the harness,
against a minimal hand-written PyTorch loop over the same images, as JSON.

Both sides decode, augment, forward and backward the same images with the same model, batch size,
transform, decoding workers and threads; only the loop differs. The harness side is timed from the
moment the detector asks ``ctx.image_batches`` for an epoch to the moment that epoch's batches run
out (so building the model and loading weights are not counted). After a warm-up epoch each side
runs three times, alternating (A B, B A, A B), and the fastest pass of each counts (the machines
are shared and noisy).
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmark import plugins as plugin_registry
from benchmark.data import synthetic
from benchmark.data.images import IMAGE_SUFFIXES, ImageFiles, _collate, image_batches
from benchmark.detector import FitContext, Samples
from benchmark.environment import describe_device, resolve_device
from benchmark.errors import BenchmarkError
from benchmark.features.encoders import default_workers
from benchmark.prompts import PromptSet


def parse_options(pairs: list[str]) -> dict:
    """``["size=224", "backbone=timm:x"]`` -> options, values read as YAML (numbers, booleans, lists)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"perf: --option {pair!r}: expected KEY=VALUE, e.g. --option size=224")
        options[key] = yaml.safe_load(value)
    return options


def _images(data_dir: Path, real: str, limit: int) -> tuple[list[str], np.ndarray]:
    fakes = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and p.name != real)
    if not (data_dir / real).is_dir() or not fakes:
        raise BenchmarkError(f"perf: {data_dir} needs a '{real}' folder (--real) and another class folder")
    paths, labels = [], []
    for label, cls in ((0, real), (1, fakes[0])):
        found = sorted(str(p) for p in (data_dir / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
        paths += found
        labels += [label] * len(found)
    return paths, np.asarray(labels)


class _GpuLoad:
    """GPU utilisation (%) sampled while a block runs; None without a CUDA device or a way to ask."""

    def __init__(self, device: torch.device):
        self.device, self.samples, self._stop = device, [], threading.Event()

    def _sample(self) -> float | None:
        try:
            return float(torch.cuda.utilization(self.device))
        except Exception:  # noqa: BLE001 - needs pynvml; fall back to the driver's tool
            if not shutil.which("nvidia-smi"):
                return None
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=5).stdout.split()
            return float(out[0]) if out else None

    @contextlib.contextmanager
    def watch(self):
        if self.device.type != "cuda":
            yield
            return
        def loop():
            while not self._stop.wait(0.5):
                value = self._sample()
                if value is not None:
                    self.samples.append(value)
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    @property
    def mean(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def _harness_epoch(factory, options: dict, samples: Samples, device, workers: int, seed: int = 0, made=None):
    """One epoch of ``detector.fit`` as the runner drives it; (seconds of the epoch, detector).
    ``made``: pseudo-fakes among the samples, generated in the decoding workers as in a run."""
    detector = factory(**options)
    generator = torch.Generator().manual_seed(seed)
    span = {}

    def batches(s, transform, batch_size, shuffle=False):
        span["start"] = time.perf_counter()
        yield from image_batches(s.paths, s.labels, transform, batch_size, shuffle, generator, workers,
                                 pin_memory=device.type == "cuda", made=made)
        if device.type == "cuda":
            torch.cuda.synchronize()
        span["end"] = time.perf_counter()

    @contextlib.contextmanager
    def progress(total):
        yield lambda **stats: None

    torch.manual_seed(seed)
    ctx = FitContext(device=device, seed=seed, prompts=PromptSet(real=["a real face"], fake=["a fake face"]),
                     log=lambda line: None, progress=progress, image_batches=batches, batch_generator=generator)
    detector.fit(samples, None, ctx)
    return span["end"] - span["start"], detector


def _hand_epoch(detector, samples: Samples, device, workers: int) -> float:
    """The same epoch written the plain way: a DataLoader, the model, BCE, the optimizer's step."""
    from benchmark_plugins.detectors.augment import train_transform

    net = detector.net
    params = net.select(detector.tune)
    optimizer = torch.optim.Adam(params, lr=detector.lr, weight_decay=detector.weight_decay)
    loader = torch.utils.data.DataLoader(
        ImageFiles(samples.paths, train_transform(detector.size, detector.mean, detector.std, detector.augment)),
        batch_size=detector.batch_size, shuffle=True, num_workers=workers, collate_fn=_collate,
        pin_memory=device.type == "cuda")
    labels = torch.as_tensor(samples.labels, dtype=torch.float32)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    net.train_mode(detector.tune)
    start = time.perf_counter()
    for images, indices, _ in loader:
        images = images.to(device, non_blocking=True)
        if device.type == "cuda" and detector.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = net(images)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels[indices].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def run_train_perf(name: str, options: dict, data_dir: str | None, real: str = "Real", limit: int | None = 100,
                   workers: int | None = None, device: str = "auto", log=lambda line: None) -> dict:
    found = plugin_registry.collect().detectors.get(name, where="perf --train")
    if data_dir is None:
        data_dir = synthetic.generate(Path(tempfile.mkdtemp(prefix="benchmark-perf-data-")), videos=limit or 100)
        real = synthetic.REAL
    paths, labels = _images(Path(data_dir), real, limit or 10**9)
    samples = Samples(paths=paths, labels=labels)
    torch_device = resolve_device(device)
    workers = default_workers() if workers is None else workers
    if "epochs" in inspect.signature(found.value).parameters:
        options = {**options, "epochs": 1}  # one epoch is what is timed
    try:
        factory_check = found.value(**options)
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"perf --train {name}: {e}") from None
    if factory_check.frozen_encoder() is not None:
        raise BenchmarkError(f"perf --train {name}: a frozen-encoder detector trains on cached embeddings; "
                             "this measures pixel detectors (finetune and its presets)")
    comparable = hasattr(factory_check, "net") and hasattr(factory_check, "tune")
    gpu = _GpuLoad(torch_device)
    log(f"perf --train {name}: warm-up epoch on {len(paths)} images")
    _, detector = _harness_epoch(found.value, options, samples, torch_device, workers)  # caches, allocator, files
    harness, hand = [], []
    for round_ in (1, 2, 3):  # A B, B A, A B: neither side always runs on a warmer machine
        order = ("harness", "hand") if round_ != 2 else ("hand", "harness")
        for side in order if comparable else ("harness",):
            log(f"perf --train {name}: {side} epoch, round {round_}")
            if side == "hand":
                hand.append(_hand_epoch(detector, samples, torch_device, workers))
                continue
            with gpu.watch() if round_ == 3 else contextlib.nullcontext():
                seconds, detector = _harness_epoch(found.value, options, samples, torch_device, workers)
            harness.append(seconds)
    best = min(harness)
    figures = {
        "device": describe_device(torch_device), "detector": name, "options": options, "images": len(paths),
        "workers": workers, "threads": torch.get_num_threads(),
        "harness_epoch_s": [round(s, 3) for s in harness],
        "harness_img_s": round(len(paths) / best, 1),
    }
    if comparable:
        figures.update({"hand_loop_epoch_s": [round(s, 3) for s in hand],
                        "hand_loop_img_s": round(len(paths) / min(hand), 1),
                        "harness_over_hand_loop": round(best / min(hand), 3)})
    if torch_device.type == "cuda":
        figures["gpu_utilisation_pct"] = gpu.mean
        figures["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated(torch_device) / 2**20, 1)
    return figures
