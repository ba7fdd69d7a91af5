"""``--executor ray``: the plan carried out as Ray tasks, on a local Ray instance or a cluster.

* **Encoding**: the images still missing from the cache, per (encoder, perturbation), in shards of
  whole encoder batches, one task each (one GPU each when the cluster has GPUs). Embeddings come
  back to the driver, which adds them to the cache: the cache keeps a single writer, and need not be
  on a filesystem the workers see.
* **Training runs**: one task per detector x training set x seed, submitted as soon as the
  embeddings it reads are in. It runs the local executor's own code on a scratch run dir (seeded
  with the checkpoints a resumed run already has) and hands back the files it wrote.
* The **driver alone** writes the run dir: each finished training run's files first, then its
  result rows, exactly as a local run would; identity, lock, resume and reports are unchanged.

A task whose worker dies is tried again, ``RETRIES`` times at most (an encoding shard by Ray; a
training run by the driver, with the checkpoints its last try sent); a training run that fails (a
detector's error, or a worker dying every try) stops the run with one line naming its cells, after
every other task has finished and been written. Ctrl-C cancels what is outstanding.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.environment import PACKAGES, installed
from benchmark.errors import BenchmarkError
from benchmark.features.encoders import BATCH_SIZE, SHARD_ROWS, resolve_encoder
from benchmark.files import atomic_write
from benchmark.plugins import Entry
from benchmark.run.executor import DetectorFailed, LocalExecutor, cell_line
from benchmark.run.plan import Plan, TrainingRun
from benchmark.run.ray_tasks import RunOutcome, WorkerSetup, encode_shard, failure_line, run_name, training_task
from benchmark.run.training import FINAL_MODEL

RETRIES = 2  # tries after the first when a worker dies; a task's own exception is never retried
DEVICES = ("auto", "cpu", "cuda")
# passed on to the workers of a Ray instance this run starts (a cluster's nodes have their own)
WORKER_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME")


def require_ray():
    try:
        import ray
    except ImportError:
        raise BenchmarkError("--executor ray needs Ray, which is not installed: pip install -e '.[ray]' "
                             "(or pip install 'ray>=2.30')") from None
    return ray


class ProgressBoard:
    """A Ray actor collecting workers' progress events until the driver draws them."""

    def __init__(self):
        self.events = []

    def push(self, event) -> None:
        self.events.append(event)

    def take(self) -> list:
        events, self.events = self.events, []
        return events


@dataclass
class RayCluster:
    """A connection to Ray, and what one task asks of it."""

    ray: object
    started: bool  # this run started the Ray instance (and shuts it down)
    address: str
    resources: dict  # per task: {"num_cpus": c} or {"num_gpus": 1, "num_cpus": c}
    decode_workers: int  # image decoding processes inside a task
    threads: int | None  # torch threads inside a CPU task (None on GPUs: Ray's default, the task's CPUs)
    totals: dict  # the cluster's CPUs, GPUs and nodes

    @classmethod
    def connect(cls, address: str | None, device: str, workers: int | None, threads: int | None = None) -> RayCluster:
        if device not in DEVICES:
            raise BenchmarkError(f"--device {device} picks one GPU of this machine; with --executor ray every task "
                                 f"gets a GPU of its own: use --device auto (all GPUs), cuda or cpu")
        ray = require_ray()
        _check_reachable(address)
        started = not ray.is_initialized()
        if started:
            env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                         runtime_env={"env_vars": env} if env else None)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"--address {address}" if address else "a local Ray instance"
                raise BenchmarkError(f"{where}: cannot start or reach Ray ({str(e).splitlines()[0]}); on a cluster "
                                     f"run `ray start --head` there and pass its address (or auto)") from None
        totals = ray.cluster_resources()
        cpus, gpus = max(1, int(totals.get("CPU", 1))), int(totals.get("GPU", 0))
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        if device == "cuda" and not gpus:
            if started:  # a refused run leaves no Ray instance behind
                ray.shutdown()
            raise BenchmarkError("--device cuda: the Ray cluster has no GPUs; use --device auto or cpu")
        if gpus and device != "cpu":  # one GPU per task, and that GPU's share of the CPUs to feed it
            per_task = max(1, cpus // gpus)
            decode = min(8, per_task - 1) if workers is None else workers
            resources = {"num_gpus": 1, "num_cpus": per_task}
        else:  # one core per task by default: decoding inline parallelises best across tasks
            decode, threads = workers or 0, threads or 1
            resources = {"num_cpus": threads + decode}
        context = ray.get_runtime_context()
        return cls(ray, started, address or ("local" if started else context.gcs_address), resources, decode,
                   threads if "num_gpus" not in resources else None, {"cpus": cpus, "gpus": gpus, "nodes": nodes})

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once."""
        if "num_gpus" in self.resources:
            return self.totals["gpus"]
        return max(1, self.totals["cpus"] // self.resources["num_cpus"])

    def describe(self) -> str:
        unit = f"{self.totals['gpus']} GPU(s)" if "num_gpus" in self.resources else f"{self.totals['cpus']} CPUs"
        return f"Ray ({self.address}): {self.totals['nodes']} node(s), {unit}, {self.slots} task(s) at once"

    def meta(self) -> dict:
        return {"kind": "ray", "ray": self.ray.__version__, "address": self.address, **self.totals,
                "per_task": self.resources, "decode_workers": self.decode_workers, "threads": self.threads,
                "retries": RETRIES}

    def shutdown(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """A host:port where nothing listens is said at once (Ray itself retries it for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise BenchmarkError(f"--address {address}: expected host:port with a port number (or auto), got port {port!r}")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=5) as connection:
            speaks_grpc = _answers_http2(connection)
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise BenchmarkError(f"--address {address}: no Ray cluster answers there ({why}); start one with "
                             "`ray start --head` on that machine and pass its host:port (or auto, on it)") from None
    if not speaks_grpc:  # Ray would print its own warnings for minutes before giving up
        raise BenchmarkError(f"--address {address}: something listens there, but not a Ray head (its GCS speaks "
                             "gRPC); pass the address `ray start --head` printed (port 6379 by default)")


def _answers_http2(connection: socket.socket) -> bool:
    """A Ray head's GCS is a gRPC server: to HTTP/2's connection preface it answers with a SETTINGS frame."""
    connection.settimeout(3)
    connection.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    frame = b""
    try:
        while len(frame) < 9:
            chunk = connection.recv(9 - len(frame))
            if not chunk:
                break
            frame += chunk
    except OSError:  # a timeout: it never answers
        return False
    return len(frame) == 9 and frame[3] == 4  # frame type 4: SETTINGS


def shard_size(images: int, slots: int) -> int:
    """About two shards per slot (so a slow one does not hold the rest), in whole batches."""
    per_shard = math.ceil(images / (2 * slots))
    return max(BATCH_SIZE, min(SHARD_ROWS, BATCH_SIZE * math.ceil(per_shard / BATCH_SIZE)))


class RayExecutor:
    """Submits a plan's tasks, and writes what comes back, as it comes back."""

    def __init__(self, local: LocalExecutor, cluster: RayCluster, digests: dict[str, str]):
        self.local = local  # the run's configuration, and the driver's own feature store
        self.cluster = cluster
        self.digests = digests  # path -> sha256, so workers never rehash
        self.jobs: dict = {}  # ObjectRef -> ("encode", spec, perturb, digests, bar) | ("train", run)
        self.shards_left: dict = {}  # spec -> its encoding shards not back yet
        self.failed_specs: set = set()
        self.failures: list[str] = []
        self.bars: dict = {}  # a worker's progress task -> the driver's
        self.images_left: dict = {}  # an encoding bar -> images not back yet
        self.snapshots: dict = {}  # spec -> its embeddings in the object store
        self.tries: dict = {}  # training run -> times the driver resubmitted it after its worker died

    def execute(self, plan: Plan, progress) -> None:
        ray, local = self.cluster.ray, self.local
        self.encode = ray.remote(max_retries=RETRIES)(encode_shard).options(**self.cluster.resources)
        # retried by the driver, not by Ray: a new try is shipped the checkpoints the last one sent
        self.train = ray.remote(max_retries=0)(training_task).options(**self.cluster.resources)
        self.board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        # the harness, its libraries and every detector's package: the same versions on every node
        plugin_packages = [Entry(d.name, None, d.source).origin[0] for d in local.detectors.values()]
        packages = [*PACKAGES, *(p for p in plugin_packages if p != "-")]
        self.installed = installed(dict.fromkeys(packages))
        self.setup = ray.put(WorkerSetup(local.suite, local.dataset, local.detectors, local.metrics,
                                         local.perturbations, local.mode, self.digests, local.features.fast_decode,
                                         self.cluster.decode_workers, self.cluster.threads, self.installed,
                                         local.pseudo))
        self.made = ray.put(local.pseudo)  # once: every encoding shard reads it
        self._submit_encodings(plan, progress)
        self._texts(plan)
        waiting = list(plan.runs)
        try:
            self._submit_ready(waiting)
            while self.jobs:
                done, _ = ray.wait(list(self.jobs), num_returns=1, timeout=0.25)
                self._draw(progress)
                for ref in done:
                    self._collect(ref, self.jobs.pop(ref), progress)
                self._submit_ready(waiting)
            self._draw(progress)
        except KeyboardInterrupt:
            for ref in self.jobs:  # finished runs are written; the rest resume from their last checkpoint
                ray.cancel(ref, force=True)
            try:
                self._draw(progress)  # the checkpoints already sent
            except ray.exceptions.RayError:
                pass
            raise
        if self.failures:
            more = (f" (and {len(self.failures) - 1} more failure(s); see {local.store.out / 'run.log'})"
                    if len(self.failures) > 1 else "")
            raise DetectorFailed(self.failures[0] + more)

    def _submit_encodings(self, plan: Plan, progress) -> None:
        """The images missing from the cache, per (encoder, perturbation), in shards."""
        features = self.local.features
        for (spec, name), paths in plan.encodings.items():
            perturb = self.local.perturbation(name)
            features.key(spec, perturb)  # workers have no file facts to compute it
            todo, digests = features.pending(spec, paths, perturb)
            if not todo:
                continue
            what = f" ({name})" if perturb is not None and perturb.identity else ""
            bar = progress.add_task(f"encode {spec.model}{what} on Ray", total=len(todo), stats="")
            self.images_left[bar] = len(todo)
            size = shard_size(len(todo), self.cluster.slots)
            for start in range(0, len(todo), size):
                part = digests[start:start + size]
                ref = self.encode.remote(spec, todo[start:start + size], part, perturb, features.fast_decode,
                                         self.cluster.decode_workers, self.cluster.threads, self.installed, self.made)
                self.jobs[ref] = ("encode", spec, perturb, part, bar)
                self.shards_left[spec] = self.shards_left.get(spec, 0) + 1

    def _submit_ready(self, waiting: list[TrainingRun]) -> None:
        """Every training run whose embeddings are all in (pixel detectors at once)."""
        for run in list(waiting):
            spec = self.local.detectors[run.detector].spec
            if spec is not None and self.shards_left.get(spec):
                continue
            waiting.remove(run)
            if spec in self.failed_specs:
                continue  # its encoding's failure is reported
            if spec is not None and spec not in self.snapshots:
                self.snapshots[spec] = self.cluster.ray.put(self.local.features.snapshot(spec))
            self._submit(run)

    def _submit(self, run: TrainingRun) -> None:
        spec = self.local.detectors[run.detector].spec
        ref = self.train.remote(self.setup, run, self._shipped(run), self.snapshots.get(spec), self.board)
        self.jobs[ref] = ("train", run)

    def _collect(self, ref, job: tuple, progress) -> None:
        """A finished task: embeddings into memory and the cache, a training run into the run dir,
        or a failure to report once every other task is done."""
        ray = self.cluster.ray
        try:
            value = ray.get(ref)
        except ray.exceptions.RayError as e:
            if job[0] == "encode":
                self.failed_specs.add(job[1])
                self.shards_left[job[1]] -= 1
                self.failures.append(failure_line(f"encoding {job[1].model}", e, RETRIES))
            elif self._worker_died(e) and self.tries.get(job[1], 0) < RETRIES:
                self.tries[job[1]] = self.tries.get(job[1], 0) + 1
                self._draw(progress)  # the checkpoints the dead try sent, so the next one resumes from them
                self.local.store.log(f"{run_name(job[1])}: its worker died ({type(e).__name__}); try "
                                     f"{self.tries[job[1]] + 1} of {RETRIES + 1}, from its last checkpoint")
                self._submit(job[1])
            else:
                self.failures.append(failure_line(run_name(job[1]), e, RETRIES))
                self.local.store.log(self.failures[-1], e)
            return
        if job[0] == "train":
            error = self._write(value)
            if error:
                self.failures.append(error)
            return
        _, spec, perturb, digests, bar = job
        self.local.features.add(spec, digests, torch.from_numpy(value.astype(np.float32)), perturb)
        progress.advance(bar, len(digests))
        self.images_left[bar] -= len(digests)
        if not self.images_left[bar]:  # gone once done, as in a local run
            progress.remove_task(bar)
        self.shards_left[spec] -= 1

    def _worker_died(self, error: BaseException) -> bool:
        """Not the task's own exception, nor a cancellation: the process or node running it was lost."""
        exceptions = self.cluster.ray.exceptions
        return not isinstance(error, (exceptions.RayTaskError, exceptions.TaskCancelledError))

    def _draw(self, progress) -> None:
        """Workers' progress events onto the driver's bars; their checkpoints into the run dir."""
        for kind, task, fields in self.cluster.ray.get(self.board.take.remote()):
            if kind == "file":
                atomic_write(self.local.store.out / task, fields)
            elif kind == "add":
                self.bars[task] = progress.add_task(**fields)
            elif task in self.bars and kind == "update":
                progress.update(self.bars[task], **fields)
            elif task in self.bars and kind == "remove":
                progress.remove_task(self.bars.pop(task))

    def _texts(self, plan: Plan) -> None:
        """Prompt embeddings, on the driver: from the cache, or the model it loaded to check the
        weights (prompts are few; a GPU is not worth a task)."""
        for name in dict.fromkeys(run.detector for run in plan.runs):
            detector = self.local.detectors[name]
            if detector.spec is not None and detector.prompts is not None and resolve_encoder(detector.spec)[1].has_text:
                self.local.features.texts(detector.spec, [*detector.prompts.real, *detector.prompts.fake])

    def _shipped(self, run: TrainingRun) -> dict[str, bytes]:
        """The files a training run resumes from: its final model when there is one (and the epoch
        checkpoints when oracle selection rescores them), else its checkpoints."""
        out = self.local.store.out
        folder = self.local.store.training_dir(run.detector, run.train, run.seed)
        if not folder.is_dir():
            return {}
        final = folder / FINAL_MODEL
        wanted = [final] if final.exists() else []
        if not final.exists() or self.local.suite.selection.oracle:
            wanted += sorted(folder.glob("checkpoint_epoch_*.pth"))
        return {str(path.relative_to(out)): path.read_bytes() for path in wanted}

    def _write(self, outcome: RunOutcome) -> str | None:
        """A training run's files, then its rows (a row is only ever written after its cell's files);
        returns its error, with the worker's scratch paths as run-dir paths."""
        out = self.local.store.out

        def here(text: str) -> str:
            return text.replace(outcome.scratch, str(out))

        for name in outcome.removed:
            (out / name).unlink(missing_ok=True)
        for name, data in outcome.files.items():
            atomic_write(out / name, data)
        for name, text in outcome.logs.items():
            path = Path(out / name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as log:
                log.write(here(text))
        for row in outcome.rows:
            self.local.store.append(row)
            self.local.say(cell_line(row))
        return here(outcome.error) if outcome.error else None

