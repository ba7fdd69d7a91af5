"""``benchmark perf --scale N``: what the harness itself costs on a study of N images.

Generates N distinct 64 px JPEGs (3 classes, 10 frames per video; made once under ``--scale-dir``
and reused), then times real ``benchmark`` commands in subprocesses, as a user runs them: wall
seconds, CPU seconds and peak RSS of each, and the phase split each run writes to its run.log.

* ``cold``: a new run dir, an empty embedding cache (a one-layer encoder: the harness's own work,
  not a model's); ``cold_harness_ms_per_image`` is its main-process CPU per image;
* ``warm``: a new run dir with every image cached; ``start_s`` is until the first training begins;
* ``resume``: the finished run again (nothing to do); ``validate``: `validate` twice (the second
  answers from the file-facts memo);
* ``dim512``: the same warm start and resume with 512-d embeddings written straight into the cache
  (the ViT-B/32 size) with the file-facts memo an earlier run leaves, which is how 1 M is measured
  without encoding 1 M images;
* ``failing_s``, ``help_s``, ``plugins_s``: commands that answer without touching data.

Every image differs by a JPEG comment, so contents (and digests) are distinct while decoding cost
stays tiny: the figures are the harness's, not libjpeg's.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CLASSES = ("Real", "FakeA", "FakeB")
FRAMES = 10


def _base_jpeg() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def generate(root: Path, images: int) -> Path:
    """``root``/data with ``images`` JPEGs (reused when already made with that count)."""
    data, made = root / "data", root / "made.json"
    if made.is_file() and json.loads(made.read_text()).get("images") == images:
        return data
    shutil.rmtree(data, ignore_errors=True)
    base = _base_jpeg()
    videos = max(3, images // (FRAMES * len(CLASSES)))
    for cls in CLASSES:
        for video in range(videos):
            folder = data / cls / f"{video:06d}"
            folder.mkdir(parents=True)
            for frame in range(FRAMES):
                comment = f"{cls}/{video}/{frame}".encode()
                # a COM segment right after SOI: other bytes, same pixels
                blob = base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]
                (folder / f"{frame:02d}.jpg").write_bytes(blob)
    made.write_text(json.dumps({"images": images, "written": videos * FRAMES * len(CLASSES)}))
    return data


def tiny_config(root: Path, dim: int) -> Path:
    """A one-layer open_clip config with ``dim``-d embeddings: encoding costs next to nothing."""
    path = root / f"encoder-{dim}.json"
    path.write_text(json.dumps({
        "embed_dim": dim,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }))
    return path


def write_suite(root: Path, data: Path, dim: int) -> Path:
    import yaml

    path = root / f"suite-{dim}.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"scale-{dim}",
        "data": {"root": str(data), "real": "Real"},
        "pairings": [{"train": "FakeA", "test": ["FakeA", "FakeB"]}],
        "detectors": {"clip-linear-probe": {"backbone": str(tiny_config(root, dim)), "pretrained": "none",
                                            "c_values": [1.0], "max_iter": 30}},
    }, sort_keys=False))
    return path


# Measured from a small launcher: a child forked from this (large) process would report this
# process's RSS as its own peak (Linux carries the parent's high-water mark across fork + exec).
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
output = process.stdout.read()
_, status, usage = os.wait4(process.pid, 0)
print(json.dumps({"rc": os.waitstatus_to_exitcode(status), "wall_s": round(time.perf_counter() - start, 2),
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "rss_mb": round(usage.ru_maxrss / 1024),
                  "output": output.decode(errors="replace")[-2000:]}))
"""


def timed(args: list[str], env: dict) -> dict:
    """Wall and CPU seconds (the command and its children) and peak RSS of one command."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def phases(out: Path) -> dict:
    """The phase split of the last start, from the run's log (see Run.timings)."""
    try:
        lines = (out / "run.log").read_text().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        if " phases " in line:
            return json.loads(line.split(" phases ", 1)[1])
    return {}


def simulate_cache(suite_path: Path, cache: Path) -> int:
    """Random unit embeddings for every image of the suite, committed to the cache in shards as an
    encoding pass would (digests are the files' sha256, the encoder key the harness's own)."""
    import yaml

    from benchmark.detector import EncoderSpec
    from benchmark.data.facts import FileFacts, sha256_file
    from benchmark.features.cache import EmbeddingCache
    from benchmark.features.encoders import SHARD_ROWS, encoder_key

    suite = yaml.safe_load(suite_path.read_text())
    options = suite["detectors"]["clip-linear-probe"]
    dim = json.loads(Path(options["backbone"]).read_text())["embed_dim"]
    store = EmbeddingCache(cache, encoder_key(EncoderSpec(options["backbone"], options["pretrained"]), sha256_file))
    paths = sorted(str(p) for p in Path(suite["data"]["root"]).rglob("*.jpg"))
    facts = FileFacts(cache).scan(paths)  # the memo an earlier run would have left
    rng = np.random.default_rng(0)
    for start in range(0, len(paths), SHARD_ROWS):
        digests = [facts[p][0] for p in paths[start:start + SHARD_ROWS]]
        rows = rng.standard_normal((len(digests), dim)).astype(np.float32)
        store.put(digests, rows / np.linalg.norm(rows, axis=1, keepdims=True))
    return len(paths)


def run_scale(images: int, scale_dir: Path, cold: bool = True, threads: int | None = None, log=print) -> dict:
    scale_dir = Path(scale_dir) / str(images)
    scale_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = generate(scale_dir, images)
    log(f"perf --scale: data in {data} ({time.perf_counter() - started:.0f} s)")
    work = scale_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    benchmark = [sys.executable, "-m", "benchmark"]
    extra = ["--threads", str(threads)] if threads else []
    n = json.loads((scale_dir / "made.json").read_text())["written"]
    figures: dict = {"images": n, "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}

    def step(name, args, out=None):
        log(f"perf --scale: {name} ...")
        result = timed(benchmark + args, env)
        if result["rc"] != 0 and name.split("_")[0] not in ("failing", "validate"):
            raise RuntimeError(f"{name} failed (rc {result['rc']}): {result['output']}")
        result.pop("output")
        if out is not None:
            result["phases"] = phases(out)
        figures[name] = result
        return result

    for dim in ((32, 512) if cold else (512,)):
        suite = write_suite(scale_dir, data, dim)
        cache = work / f"cache-{dim}"
        key = f"dim{dim}"
        if dim == 32:
            run = step(f"{key}_cold", ["run", str(suite), "--output-dir", str(work / "cold"), "--cache-dir", str(cache),
                                       *extra], work / "cold")
            encode = run["phases"].get("encode_s", 0.0)
            run["harness_ms_per_image"] = round(1000 * (run["cpu_s"] - encode) / n, 3)
        else:
            log("perf --scale: writing simulated 512-d embeddings ...")
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from benchmark.perf_scale import simulate_cache; "
                            "print(simulate_cache(Path(sys.argv[1]), Path(sys.argv[2])))", str(suite), str(cache)],
                           env=env, check=True, capture_output=True)
            figures[f"{key}_simulate_s"] = round(time.perf_counter() - t, 1)
        warm = work / f"warm-{dim}"
        step(f"{key}_warm", ["run", str(suite), "--output-dir", str(warm), "--cache-dir", str(cache), *extra], warm)
        step(f"{key}_resume", ["run", str(suite), "--output-dir", str(warm), "--cache-dir", str(cache), *extra], warm)
        if dim == 512:
            for attempt in ("first", "second"):
                step(f"validate_{attempt}", ["validate", str(suite), "--cache-dir", str(cache)])
    step("failing", ["run", str(write_suite(scale_dir, data, 32)), "--set", "no_such_key=1"])
    step("help", ["--help"])
    step("plugins", ["plugins"])
    figures["total_s"] = round(time.perf_counter() - started, 1)
    return figures
