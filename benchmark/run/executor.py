"""The local executor: carries out a plan in this process. Encodes every image the plan reads
(once per encoder), then per training run fits (or resumes, or loads) the detector and scores its
test cells; each finished cell goes to the store at once.

A detector's own failure (an exception in fit or predict, a NaN loss) stops the run with one line
naming detector, training set, seed and epoch; its traceback goes to the run logs, and every cell
finished before it stays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from benchmark.checkpoints import check_plain, checkpoints_in, epoch_of, safe_load
from benchmark.data.dataset import Dataset
from benchmark.data.images import image_batches
from benchmark.detector import Detector, FitContext, Samples
from benchmark.errors import BenchmarkError
from benchmark.features.encoders import FeatureStore
from benchmark.files import atomic_save
from benchmark.metrics import report_columns, score_cell, test_sizes
from benchmark.perturbations import CLEAN, Perturbation
from benchmark.run.identity import harness_version
from benchmark.run.plan import Plan, TrainingRun
from benchmark.run.resolve import ResolvedDetector
from benchmark.run.scoring import predictions_table, score_problem, write_cell
from benchmark.run.store import RunStore
from benchmark.run.training import CHECKPOINT_KEYS, FINAL_MODEL, auc_or_nan, fit_and_select

FINAL_KEYS = ("state", "selection")


class DetectorFailed(BenchmarkError):
    """A detector raised (or produced NaN) inside fit or predict."""


def cell_line(row: dict, seconds: float | None = None) -> str:
    """A finished cell in one plain line (for logs and consoles that are no terminal)."""
    what = f" ({row['perturbation']})" if row.get("perturbation", CLEAN) != CLEAN else ""
    auc = f"AUC {row['auc']:.3f}" if isinstance(row.get("auc"), float) else "AUC -"
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    return f"cell {row['detector']}: {row['train']} -> {row['test']}{what}, seed {row['seed']}: {auc}{took}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class LocalExecutor:
    suite: object
    dataset: Dataset
    detectors: dict[str, ResolvedDetector]
    metrics: list
    features: FeatureStore
    device: torch.device
    workers: int
    store: RunStore
    mode: str
    perturbations: dict = dataclasses.field(default_factory=dict)  # name -> Perturbation (the clean one included)
    on_checkpoint: object = None  # told of each epoch's checkpoint file (a Ray worker sends it to the driver)
    announce: object = None  # told one plain line per finished training run and cell (consoles that are no terminal)
    phases: object = None  # a run's Phases: the encoding pass is timed, and the moment training begins marked
    pseudo: object = None  # the run's PseudoFakes (benchmark.pseudo.fakes) when a training set is a generator

    def say(self, line: str) -> None:
        if self.announce is not None:
            self.announce(line)

    def __post_init__(self):
        self.samples_by_path = self.dataset.by_path()

    def execute(self, plan: Plan, progress: Progress) -> None:
        # one decoding pass over every image the run reads, before any training: a single
        # pipeline keeps the encoder busy, where one per cell would restart it each time
        with self.phases("encode") if self.phases else contextlib.nullcontext():
            for (spec, perturbation), paths in plan.encodings.items():
                self.features.ensure(spec, paths, progress, self.perturbation(perturbation))
        if self.phases:
            self.phases.mark("training")
        for run in plan.runs:
            self.training_run(run, progress)

    # -- one training run ------------------------------------------------------------------------
    def training_run(self, run: TrainingRun, progress: Progress) -> None:
        resolved = self.detectors[run.detector]
        folder = self.store.training_dir(run.detector, run.train, run.seed)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / FINAL_MODEL
        with open(folder / "run.log", "a") as log_file:
            def log(message: str) -> None:
                log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
                log_file.flush()

            seed_everything(run.seed)
            detector = resolved.build()
            ctx = self._context(run, log, detector, progress)
            stage = "load"
            try:
                if final.exists():  # trained before (test mode, or a run stopped while scoring)
                    saved = safe_load(final, FINAL_KEYS)
                    detector.load_state_dict(saved["state"])
                    selected = saved["selection"]
                    log(f"loaded {final} (epoch {selected['epoch']}, threshold {selected['threshold']:.4f})")
                elif self.mode == "test":
                    raise BenchmarkError(f"--mode test: {final} does not exist; run with --mode train (or both) first")
                else:
                    stage = "fit"
                    selected = self._fit(run, resolved, detector, ctx, folder, log, progress)
                if self.mode == "train":
                    return
                for test, perturbation in run.cells:
                    stage = f"predict on {test}" + (f" ({perturbation})" if perturbation != CLEAN else "")
                    self._score_cell(run, detector, ctx, test, perturbation, selected, progress, log)
            except (BenchmarkError, OSError):  # the harness's own messages; paths the CLI names
                raise
            except Exception as e:  # noqa: BLE001 - a detector plugin can fail any way; report it in one line
                where = f", epoch {ctx.epoch + 1}" if stage == "fit" else ""
                message = (f"detector {run.detector} failed in {stage} (train {run.train}, seed {run.seed}{where}): "
                           f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                log(message)
                log_file.write("".join(traceback.format_exception(e)))
                self.store.log(message, e)
                raise DetectorFailed(f"{message}; traceback in {folder / 'run.log'}") from e

    def _fit(self, run, resolved, detector, ctx, folder: Path, log, progress) -> dict:
        train_set, val_set = self.dataset.cell(run.train, "train"), self.dataset.cell(run.train, "val")
        if run.train in self.dataset.generated:  # real images + pseudo-fakes of those same images
            fresh = detector.frozen_encoder() is None  # pixel detectors: new blends every pass, as SBI trains
            train_set = self.pseudo.with_fakes(train_set, run.train, "train", fresh)
            val_set = self.pseudo.with_fakes(val_set, run.train, "val", fresh=False)
        train_set = self._with_features(detector, train_set, progress)
        val_set = self._with_features(detector, val_set, progress)
        log(f"train {run.label}: {int((train_set.labels == 0).sum())} real, {int(train_set.labels.sum())} fake; "
            f"val {len(val_set)} images; device {self.device}; options {resolved.resolved_options}")
        started = time.perf_counter()
        seed_everything(run.seed)  # after encoding, so a warm or cold cache trains identically
        selection = self.suite.selection
        selected = fit_and_select(detector, train_set, val_set, ctx, folder, selection.epoch,
                                  selection.threshold, self.on_checkpoint).to_dict()
        final = folder / FINAL_MODEL
        state = detector.state_dict()
        check_plain(state, "state_dict()")
        spec = detector.frozen_encoder() or detector.starts_from()  # the network whose identity it depends on
        # what `benchmark predict` needs to rebuild this detector, and to refuse a mismatch
        atomic_save({"state": state, "detector": run.detector, "use": resolved.plugin, "options": resolved.options,
                     "source": resolved.source, "encoder": self.features.key(spec) if spec else None,
                     "fast_decode": self.suite.data.fast_decode, "harness": harness_version(),
                     "train": run.train, "seed": run.seed, "selection": selected}, final)
        seconds = time.perf_counter() - started
        log(f"trained in {seconds:.2f}s; saved {final}")
        self.say(f"trained {run.label}: epoch {selected['epoch']}, val AUC {selected['val_auc']:.3f}, "
                 f"threshold {selected['threshold']:.3f} ({seconds:.1f} s)")
        return selected

    def _context(self, run: TrainingRun, log, detector: Detector, progress: Progress) -> FitContext:
        @contextlib.contextmanager
        def epoch_progress(total: int):
            task = progress.add_task(f"train {run.label}", total=total, stats="")

            def advance(**stats):
                text = " ".join(f"{k}={v:.3f}" for k, v in stats.items())
                progress.update(task, advance=1, stats=text)

            yield advance

        # one generator per training run: each shuffled pass gets a new order, the same for a seed
        generator = torch.Generator().manual_seed(run.seed)
        pin = self.device.type == "cuda"

        def batches(samples, transform, batch_size, shuffle=False):
            return image_batches(samples.paths, samples.labels, transform, batch_size, shuffle, generator, self.workers,
                                 pin_memory=pin, made=self.pseudo)

        spec = detector.frozen_encoder()
        return FitContext(
            device=self.device, seed=run.seed, prompts=self.detectors[run.detector].prompts, log=log,
            encode_text=(lambda texts: self.features.texts(spec, texts)) if spec else None,
            progress=epoch_progress, image_batches=batches, batch_generator=generator,
        )

    def perturbation(self, name: str) -> Perturbation | None:
        return None if name == CLEAN else self.perturbations[name]

    def _with_features(self, detector: Detector, samples: Samples, progress: Progress, perturb=None) -> Samples:
        spec = detector.frozen_encoder()
        if spec is not None:
            samples.features = self.features.images(spec, samples.paths, progress, perturb)
        return samples

    # -- one cell --------------------------------------------------------------------------------
    def _score_cell(self, run: TrainingRun, detector, ctx, test: str, perturbation: str, selected: dict, progress,
                    log) -> None:
        """A test set (clean, or degraded by ``perturbation``) is scored once, by the model selected on
        val, at the threshold chosen on val (on clean data: the degradation is unknown in advance)."""
        started = time.perf_counter()
        perturb = self.perturbation(perturbation)
        samples = self._with_features(detector, self.dataset.cell(test, "test"), progress, perturb)
        if perturb is not None:  # a pixel detector reads the degraded pixels through the same path
            generator, workers = ctx.batch_generator, self.workers
            pin = self.device.type == "cuda"
            ctx = dataclasses.replace(ctx, image_batches=lambda s, transform, batch_size, shuffle=False: image_batches(
                s.paths, s.labels, transform, batch_size, shuffle, generator, workers, perturb, pin))
        what = f" ({perturbation})" if perturb is not None else ""
        task = progress.add_task(f"score {run.detector}: {run.train} -> {test}{what}", total=len(samples), stats="")
        scores = np.asarray(detector.predict(samples, ctx), dtype=np.float64)
        progress.update(task, completed=len(samples))
        problem = score_problem(scores, len(samples))
        if problem:
            raise ValueError(problem)
        threshold = selected["threshold"]
        # scored from the predictions table alone, as `benchmark report --metrics` rescores it later
        predictions = predictions_table(samples, scores, threshold, self.samples_by_path)
        columns = report_columns(self.metrics, self.dataset.has_videos)
        values = score_cell(columns, predictions, threshold, self.suite.data.video_score)
        counts = test_sizes(predictions)
        if self.suite.selection.oracle and perturb is None:
            values.update(self._oracle(detector, ctx, samples, self.store.training_dir(run.detector, run.train, run.seed)))
        row = {"detector": run.detector, "train": run.train, "test": test, "seed": run.seed,
               "perturbation": perturbation, **values, **counts,
               "threshold": threshold, "selected_epoch": selected["epoch"], "val_auc": selected["val_auc"]}
        write_cell(self.store.cell_dir(run.detector, run.train, run.seed, test, perturbation), predictions, row)
        self.store.append(row)
        log(f"test {test}{what}: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))
        self.say(cell_line(row, time.perf_counter() - started))

    def _oracle(self, detector, ctx, samples: Samples, folder: Path) -> dict:
        """DeepfakeBench-style: the best test AUC over all epochs' checkpoints. Optimistic by
        construction (the epoch is picked on test); reported only when asked for, and labelled."""
        selected = detector.state_dict()
        best = (float("nan"), None)
        for checkpoint in checkpoints_in(folder):
            saved = safe_load(checkpoint, CHECKPOINT_KEYS)
            detector.load_state_dict(saved["state"])
            value = auc_or_nan(samples.labels, detector.predict(samples, ctx))
            if best[1] is None or value > best[0]:
                best = (value, epoch_of(checkpoint))
        detector.load_state_dict(selected)
        return {"oracle_auc": best[0], "oracle_epoch": best[1]}
