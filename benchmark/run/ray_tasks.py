"""What a Ray worker does for ``--executor ray`` (see benchmark.run.ray_executor): encode a shard of
images, or carry out one training run. A training run runs the local executor's own code on a
scratch run dir and hands back the files it wrote; the driver alone writes the real run dir.

Nothing here imports Ray at module level: workers import this module by reference, and the local
executor never needs it.
"""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.data.dataset import Dataset
from benchmark.environment import installed
from benchmark.errors import BenchmarkError
from benchmark.features.cache import sha256_file
from benchmark.features.encoders import FeatureStore, FrozenEncoder
from benchmark.run.executor import LocalExecutor
from benchmark.run.plan import TrainingRun
from benchmark.run.store import RunStore

LOG = "run.log"


@dataclass
class WorkerSetup:
    """Everything a training task needs besides its run; put in the object store once per run."""

    suite: object
    dataset: Dataset
    detectors: dict
    metrics: list
    perturbations: dict
    mode: str
    digests: dict[str, str]  # path -> sha256 of its bytes, from the run's splits table
    fast_decode: bool
    workers: int  # decoding processes inside a task
    threads: int | None  # torch threads (None: Ray's default, the task's CPUs)
    installed: dict  # package -> version on the driver; every worker must have the same
    pseudo: object = None  # the run's PseudoFakes: generated in the task's decoding workers


@dataclass
class RunOutcome:
    """One training run's output, relative to the run dir: files written or changed, files removed,
    text appended to logs, result rows in the order they finished; ``error`` when it stopped."""

    files: dict[str, bytes]
    removed: list[str]
    logs: dict[str, str]
    rows: list[dict]
    error: str | None = None
    scratch: str = ""  # the worker's scratch dir, named in ``error`` and the logs


class KnownDigests:
    """file_hash for a worker: the digests the driver already computed (no file is reread)."""

    def __init__(self, digests: dict[str, str]):
        self.digests = digests

    def __call__(self, path: str) -> str:
        return self.digests.get(path) or sha256_file(path)


def check_installed(expected: dict[str, str]) -> None:
    """A node with other versions would mix two experiments in one run: refuse, naming the node."""
    here = installed(expected)
    wrong = [f"{p} {here[p]} (driver: {v})" for p, v in expected.items() if here[p] != v]
    if wrong:
        raise BenchmarkError(f"Ray node {socket.gethostname()} has {', '.join(wrong)}; install the same versions on "
                             "every node")


def device_here(threads: int | None) -> torch.device:
    """The GPU Ray gave this task (CUDA_VISIBLE_DEVICES is set to it), else the CPU; on the CPU the
    number of torch threads is set, as convolutions' results depend on it."""
    import ray

    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda") if ray.get_gpu_ids() else torch.device("cpu")


_ENCODERS: dict[tuple, FrozenEncoder] = {}  # per worker process: a model loads once for all its shards


def encode_shard(spec, paths: list[str], digests: list[str], perturb, fast_decode: bool, workers: int,
                 threads: int | None, installed: dict[str, str], made=None) -> np.ndarray:
    """(len(paths), dim) float16 embeddings, exactly as the local pipeline computes them: the same
    batches (a shard is a whole number of batches), the same per-image perturbation seeds."""
    check_installed(installed)
    device = device_here(threads)
    key = (spec, str(device), fast_decode, workers)
    if key not in _ENCODERS:
        _ENCODERS.clear()  # one model at a time: a worker's GPU memory is not shared with the next spec
        _ENCODERS[key] = FrozenEncoder(spec, device, workers=workers, fast_decode=fast_decode)
    _ENCODERS[key].made = made  # this run's pseudo-fakes among the paths
    out = None
    for indices, embeddings in _ENCODERS[key].iter_encode(paths, perturb, digests):
        if out is None:
            out = np.empty((len(paths), embeddings.shape[1]), dtype=np.float16)
        out[indices.numpy()] = embeddings.half().numpy()
    return out


class RelayedProgress:
    """The rich.Progress calls the executor makes, sent to the driver's progress board (an actor)
    and drawn there; fire-and-forget, so a worker never waits on the console."""

    _ids = itertools.count()

    def __init__(self, board, run_key: str):
        self.board = board
        self.run_key = run_key

    def _send(self, *event) -> None:
        self.board.push.remote(event)

    def add_task(self, description: str, total=None, **fields) -> str:
        task = f"{self.run_key}/{os.getpid()}/{next(self._ids)}"  # a retry's bars are new bars
        self._send("add", task, {"description": description, "total": total, **fields})
        return task

    def update(self, task: str, **changes) -> None:
        self._send("update", task, changes)

    def advance(self, task: str, advance: float = 1) -> None:
        self._send("update", task, {"advance": advance})

    def remove_task(self, task: str) -> None:
        self._send("remove", task, {})


def training_task(setup: WorkerSetup, run: TrainingRun, shipped: dict[str, bytes], snapshot: dict | None,
                  board) -> RunOutcome:
    """Fit (or resume from the shipped checkpoints, or load) and score one training run in a
    scratch run dir; return what it wrote. A detector's failure comes back as ``error`` with the
    logs that explain it, so the driver keeps them; a worker that dies is Ray's to retry."""
    check_installed(setup.installed)
    device = device_here(setup.threads)
    features = FeatureStore(device, setup.workers, None, KnownDigests(setup.digests), fast_decode=setup.fast_decode,
                            made=setup.pseudo)
    if snapshot is not None:
        features.preload(snapshot)
    with tempfile.TemporaryDirectory(prefix="benchmark-ray-") as scratch:
        root = Path(scratch)
        store = RunStore(root)
        for name, data in shipped.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        def send(path: Path) -> None:
            """Each epoch's checkpoint, held by the driver's board before the next epoch starts: a
            try that dies later resumes from it."""
            import ray

            ray.get(board.push.remote(("file", str(path.relative_to(root)), path.read_bytes())))

        executor = LocalExecutor(setup.suite, setup.dataset, setup.detectors, setup.metrics, features, device,
                                 setup.workers, store, setup.mode, setup.perturbations, send, pseudo=setup.pseudo)
        error = None
        try:
            executor.training_run(run, RelayedProgress(board, f"{run.detector}/{run.train}/{run.seed}"))
        except (BenchmarkError, OSError) as e:  # DetectorFailed included: its logs come back with it
            error = str(e)
        except Exception as e:  # noqa: BLE001 - the harness itself failed: say so in one line, keep the traceback
            error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            store.log(f"training run {run.label} failed on a Ray worker: {error}", e)
        files, logs = {}, {}
        if (root / LOG).exists():  # the run-level log: where a failure's traceback goes
            logs[LOG] = (root / LOG).read_text()
        folder = store.training_dir(run.detector, run.train, run.seed)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = str(path.relative_to(root))
            if path.name == LOG:
                logs[name] = path.read_text()
            elif shipped.get(name) != (data := path.read_bytes()):
                files[name] = data
        removed = [name for name in shipped if not (root / name).exists()]
        return RunOutcome(files, removed, logs, store.results(), error, scratch)


def run_name(run: TrainingRun) -> str:
    """A training run and the cells it scores, for one-line errors."""
    cells = ", ".join(test + (f" ({p})" if p != "none" else "") for test, p in run.cells) or "none (train only)"
    return f"training run {run.label} (cells {cells})"


def failure_line(what: str, error: BaseException, retries: int) -> str:
    """One line for a task Ray gave up on."""
    import ray.exceptions

    if isinstance(error, ray.exceptions.RayTaskError):
        cause = error.cause if error.cause is not None else error
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        why = text if isinstance(cause, BenchmarkError) else f"{type(cause).__name__}: {text}"
    elif isinstance(error, ray.exceptions.TaskCancelledError):
        why = "cancelled"
    else:  # the worker died (killed, out of memory, a crash in native code), every try
        why = (f"its worker died {retries + 1} times ({type(error).__name__}); Ray's logs are under "
               "/tmp/ray/session_latest/logs")
    return f"{what} failed on the Ray cluster: {why}"
