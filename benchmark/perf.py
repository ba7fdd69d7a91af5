"""``benchmark perf``: throughput figures of the feature path and of a whole study, as JSON.

Everything runs in one process on the same images, so the ratios compare like with like:

* ``encoder_img_s``: the image encoder alone on preprocessed tensors;
* ``pipeline_img_s``: decode + preprocess + encode from files, one pass over the suite's images;
* ``suite_over_pipeline``: a 2 train x 2 test suite, cold cache, over that one pipeline pass;
* ``seed_loop_over_suite``: the same study the seed's way (re-encoding every epoch) over ours;
* ``cold_over_warm``: the cold-cache suite over a warm rerun;
* ``peak_rss_mb`` and ``cache_bytes_per_image``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from benchmark import plugins as plugin_registry
from benchmark.data import synthetic
from benchmark.data.dataset import list_videos
from benchmark.detector import EncoderSpec
from benchmark.environment import describe_device, resolve_device
from benchmark.errors import BenchmarkError
from benchmark.features.encoders import FrozenEncoder, default_workers, resolve_encoder
from benchmark.perturbations import parse
from benchmark.run.runner import Run, RunOptions
from benchmark.suite import parse_suite


def _link_subset(data_dir: Path, classes: list[str], limit: int | None, into: Path) -> None:
    """The first ``limit`` videos/images of each class, as symlinks, so runs can be sized."""
    for cls in classes:
        for name, frames in list(list_videos(data_dir / cls).items())[:limit]:
            frames = [Path(f) for f in frames]
            target = into / cls / (name if len(frames) > 1 or frames[0].name != name else "")
            target.mkdir(parents=True, exist_ok=True)
            for frame in frames:
                (target / frame.name).symlink_to(frame.resolve())


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


GRID = ["jpeg:50", "blur:2", "resize:0.5", "noise:0.05", "jpeg:30"]  # five degradations for the cost figure

def run_perf(data_dir: str | None, real: str = "Real", backbone: str = "ViT-S-32-alt", limit: int | None = 100,
             epochs: int = 15, workers: int | None = None, device: str = "auto", console: Console | None = None,
             pretrained: str = "none") -> dict:
    """Figures on ``data_dir``'s images, or on generated synthetic faces when it is None."""
    if data_dir is None:
        data_dir = synthetic.generate(Path(tempfile.mkdtemp(prefix="benchmark-perf-data-")), videos=limit or 100)
        real = synthetic.REAL
        if console:
            console.print(f"perf: no folder given: generated synthetic faces in {data_dir}", style="dim")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchmarkError(f"perf: {data_dir} is not a folder; pass a folder of class folders, e.g. ../shared/data/faces")
    fakes = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and p.name != real)[:2]
    if not (data_dir / real).is_dir() or len(fakes) < 2:
        raise BenchmarkError(f"perf: {data_dir} needs a '{real}' folder (--real) and two other class folders")
    torch_device = resolve_device(device)
    workers = default_workers() if workers is None else workers
    work = Path(tempfile.mkdtemp(prefix="benchmark-perf-"))
    _link_subset(data_dir, [real, *fakes], limit, work / "data")
    suite = parse_suite({
        "name": "perf",
        "data": {"root": str(work / "data"), "real": real},
        "pairings": [{"train": fakes[0], "test": fakes}, {"train": fakes[1], "test": fakes}],
        # an image-only backbone (timm, torchvision) runs the adapter without prompt features
        "detectors": {"clip-adapter": {"backbone": backbone, "pretrained": pretrained, "epochs": epochs,
                                       "text_features": resolve_encoder(EncoderSpec(backbone))[1].has_text}},
    })
    quiet = Console(file=open(os.devnull, "w"))

    def study(out: str, cache: str, **options):
        return Run(suite, RunOptions(output_dir=work / out, cache_dir=work / cache, workers=workers,
                                     device=device, console=quiet, **options))

    # the suite's unique images, in the order the runner reads them
    cold_run = study("cold", "cache")
    paths = cold_run.paths_used()
    spec = EncoderSpec(backbone, pretrained)
    encoder = FrozenEncoder(spec, torch_device, workers=workers)

    size = encoder.loaded.image_size
    batch = torch.randn(64, 3, size, size, device=torch_device)
    with torch.inference_mode():
        encoder.loaded.encode_image(batch)  # warm-up
        t_encoder, _ = _timed(lambda: [encoder.loaded.encode_image(batch) for _ in range(4)])
    t_pipeline, exact = _timed(lambda: encoder.encode_paths(paths))
    fast = FrozenEncoder(spec, torch_device, workers=workers, fast_decode=True)
    t_fast, drafted = _timed(lambda: fast.encode_paths(paths))
    # a perturbation grid: P degraded passes over the test images vs P clean passes
    kinds = plugin_registry.collect().perturbations
    grid = [parse(p, kinds, "perf") for p in GRID]
    tests = list(dict.fromkeys(p for t in cold_run.suite.classes for p in cold_run.dataset.cell(t, "test").paths))
    t_clean_pass, _ = _timed(lambda: encoder.encode_paths(tests))
    t_grid, _ = _timed(lambda: [list(encoder.iter_encode(tests, perturb)) for perturb in grid])

    t_cold, _ = _timed(cold_run.run)
    cold_counts = dict(cold_run.features.counts)
    warm_run = study("warm", "cache")
    t_warm, _ = _timed(warm_run.run)

    def seed_loop():
        """The seed's way: every epoch re-encodes the training images from files; every test re-encodes."""
        for train in suite.train_sets:
            train_paths = cold_run.dataset.cell(train, "train").paths
            for _ in range(epochs):
                encoder.encode_paths(train_paths)
            for test in suite.tests_for(train):
                encoder.encode_paths(cold_run.dataset.cell(test, "test").paths)

    t_seed, _ = _timed(seed_loop)
    cache = next(iter(cold_run.features.caches.values()))
    entries = len(cache.index)
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {
        "device": describe_device(torch_device),
        "backbone": backbone,
        "pretrained": pretrained,
        "embedding_dim": int(cache.sources[0].shape[1]),
        "workers": workers,
        "images": len(paths),
        "epochs": epochs,
        "encoder_img_s": round(4 * len(batch) / t_encoder, 1),
        "pipeline_img_s": round(len(paths) / t_pipeline, 1),
        "pipeline_s": round(t_pipeline, 2),
        # data.fast_decode: JPEGs decoded at reduced scale; embeddings differ slightly (cosine to exact)
        "pipeline_fast_decode_img_s": round(len(paths) / t_fast, 1),
        "fast_decode_min_cosine": round(float((exact * drafted).sum(1).min()), 4),
        "suite_cold_s": round(t_cold, 2),
        "suite_warm_s": round(t_warm, 2),
        "seed_loop_s": round(t_seed, 2),
        "suite_over_pipeline": round(t_cold / t_pipeline, 3),
        "seed_loop_over_suite": round(t_seed / t_cold, 2),
        "cold_over_warm": round(t_cold / t_warm, 1),
        "cold_images_encoded": cold_counts["images_encoded"],
        "warm_images_encoded": warm_run.features.counts["images_encoded"],
        "warm_models_loaded": warm_run.features.counts["models_loaded"],
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "cache_bytes_per_image": round(cache.bytes_on_disk() / entries, 1),
        "perturbation_grid": GRID,
        "perturbation_grid_over_clean_passes": round(t_grid / (len(grid) * t_clean_pass), 3),
        "work_dir": str(work),
    }
