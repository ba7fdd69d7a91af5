"""``benchmark perf --ray SUITE``: what ``--executor ray`` costs or gains on this machine, as JSON.

Everything runs one after the other in this process, so the ratios compare like with like:

* ``suite_local_s`` / ``suite_ray_s``: the whole suite (cold cache), as a user runs it; the Ray
  figure includes starting and stopping a local Ray instance. ``same_results_*``: per detector,
  every cell equal, against the local run (all cores) and against a local run at 1 torch thread
  (what a Ray CPU task uses: convolutions on the CPU give other bits with other thread counts).
* ``encode_local_img_s``: the local pipeline (decode workers + one encoder) over the suite's images;
  ``encode_ray_first_img_s``: the same images as shards on fresh Ray workers (each loads the model),
  ``encode_ray_warm_img_s``: again, on the warm workers.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from benchmark.errors import BenchmarkError
from benchmark.features.encoders import FrozenEncoder, default_workers
from benchmark.run.ray_executor import RayCluster, require_ray, shard_size
from benchmark.run.ray_tasks import encode_shard
from benchmark.run.results import cell_key
from benchmark.run.runner import Run, RunOptions
from benchmark.suite import load_suite


def run_ray_perf(suite_path: str, device: str = "auto", console: Console | None = None) -> dict:
    ray = require_ray()
    suite = load_suite(suite_path, [])
    work = Path(tempfile.mkdtemp(prefix="benchmark-perf-ray-"))
    quiet = Console(file=open(os.devnull, "w"))
    runs, seconds = {}, {}
    # a Ray CPU task trains with 1 torch thread: the local run at 1 thread is its like-for-like twin
    for name, executor, threads in (("local", "local", None), ("local_1_thread", "local", 1), ("ray", "ray", None)):
        if console:
            console.print(f"perf: {suite.name} with --executor {executor}" + (f" --threads {threads}" if threads else ""),
                          style="dim")
        started = time.perf_counter()
        runs[name] = Run(suite, RunOptions(output_dir=work / name, cache_dir=work / f"cache-{name}", device=device,
                                           console=quiet, executor=executor, threads=threads))
        if not any(d.spec is not None for d in runs[name].detectors):  # said before anything is timed
            raise BenchmarkError(f"perf --ray: {suite_path} has no detector with a frozen encoder, so there is no "
                                 "encoding to time; add one (e.g. clip-adapter)")
        runs[name].run()
        seconds[name] = time.perf_counter() - started
    cells = {name: {cell_key(r): r for r in run.store.results()} for name, run in runs.items()}

    def same(a: str, b: str) -> dict:
        """Per detector: every cell's row equal."""
        return {d: all(cells[a][k] == cells[b].get(k) for k in cells[a] if k[0] == d)
                for d in dict.fromkeys(k[0] for k in cells[a])}

    # encoding alone: the suite's images with its first frozen encoder
    local = runs["local"]
    spec = next(d.spec for d in local.detectors if d.spec is not None)
    paths = list(dict.fromkeys(p for (s, _), ps in local.plan.encodings.items() if s == spec for p in ps))
    digests = [local.file_facts(p) for p in paths]
    encoder = FrozenEncoder(spec, local.device, workers=default_workers())
    started = time.perf_counter()
    encoder.encode_paths(paths)
    encode_local = time.perf_counter() - started

    cluster = RayCluster.connect(None, device, None)
    try:
        task = ray.remote(encode_shard).options(**cluster.resources)
        size = shard_size(len(paths), cluster.slots)

        def ray_pass() -> float:
            started = time.perf_counter()
            ray.get([task.remote(spec, paths[i:i + size], digests[i:i + size], None, local.suite.data.fast_decode,
                                 cluster.decode_workers, cluster.threads, {}) for i in range(0, len(paths), size)])
            return time.perf_counter() - started

        first, warm = ray_pass(), ray_pass()
        slots = cluster.slots
    finally:
        cluster.shutdown()
    return {
        "suite": suite.name,
        "cells": len(cells["local"]),
        "suite_local_s": round(seconds["local"], 2),
        "suite_local_1_thread_s": round(seconds["local_1_thread"], 2),
        "suite_ray_s": round(seconds["ray"], 2),
        "ray_over_local": round(seconds["ray"] / seconds["local"], 3),
        "local_threads": runs["local"].store.read_meta()["executor"]["threads"],
        "same_results_ray_vs_local": same("local", "ray"),
        "same_results_ray_vs_local_1_thread": same("local_1_thread", "ray"),
        "device_local": runs["local"].device.type,
        "ray_tasks_at_once": slots,
        "encoder": spec.model,
        "images": len(paths),
        "encode_local_img_s": round(len(paths) / encode_local, 1),
        "encode_ray_first_img_s": round(len(paths) / first, 1),
        "encode_ray_warm_img_s": round(len(paths) / warm, 1),
        "work_dir": str(work),
    }
