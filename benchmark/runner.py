"""For each detector x training set x seed: fit once, then score every test set of that training set.

The runner owns devices, seeds, data, files and progress; detectors only fit and predict.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmark import plugins as plugin_registry
from benchmark import synthetic
from benchmark.audit import check_leaks, run_audit
from benchmark.data import Dataset, load_dataset
from benchmark.detector import Detector, FitContext, Samples
from benchmark.environment import describe_device, git_commit, resolve_device, versions
from benchmark.errors import BenchmarkError
from benchmark.cache import FileFacts, default_cache_dir
from benchmark.features import FeatureStore, default_workers
from benchmark.images import image_batches
from benchmark.metrics import compute_metrics, video_level
from benchmark.report import DEMO_NOTICE, render_console, render_markdown
from benchmark.results import (append_result, atomic_save, atomic_write, cell_dir, cell_key, read_results,
                               train_dir, write_json)
from benchmark.scoring import write_cell
from benchmark.suite import Suite
from benchmark.training import FINAL_MODEL, auc_or_nan, fit_and_select

MODES = ("both", "train", "test")
FIXED_THRESHOLD = 0.5  # thresholded metrics are also reported here, as <metric>@0.5


@dataclass
class RunOptions:
    output_dir: Path | None = None
    data_dir: str | None = None
    mode: str = "both"
    device: str = "auto"
    workers: int | None = None
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/forgery-benchmark
    no_cache: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=False))


@dataclass
class ResolvedDetector:
    name: str
    factory: object
    options: dict
    source: str
    spec: object = None  # the frozen encoder it trains on, or None for a pixel detector

    def build(self) -> Detector:
        try:
            return self.factory(**self.options)
        except (TypeError, ValueError) as e:
            raise BenchmarkError(f"detectors.{self.name}: {e}") from None


def resolve_detectors(suite: Suite, registry) -> list[ResolvedDetector]:
    """Check every detector name and option before anything runs or is written."""
    resolved = []
    for name, options in suite.detectors.items():
        entry = registry.get(name, where=f"{suite.source}: detectors")
        parameters = inspect.signature(entry.value).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        for option in options:
            if not takes_any and option not in parameters:
                known = ", ".join(parameters) or "none"
                raise BenchmarkError(f"{suite.source}: unknown option 'detectors.{name}.{option}' (options: {known})")
        resolved.append(ResolvedDetector(name, entry.value, dict(options), entry.source))
        resolved[-1].spec = resolved[-1].build().frozen_encoder()  # also checks the options' values
    return resolved


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Run:
    def __init__(self, suite: Suite, options: RunOptions):
        if options.mode not in MODES:
            raise BenchmarkError(f"--mode must be one of {', '.join(MODES)}, got {options.mode!r}")
        self.suite = suite
        self.options = options
        self.console = options.console
        self.out = Path(options.output_dir or Path("reports") / suite.name)
        # everything a user can get wrong is checked before the first file is written
        plugins = plugin_registry.collect()
        self.detectors = resolve_detectors(suite, plugins.detectors)
        self.prompts = plugins.prompt_sets.get(suite.prompts, where=f"{suite.source}: prompts").value
        self.metrics = [plugins.metrics.get(m, where=f"{suite.source}: metrics").value for m in suite.metrics]
        self.metrics_by_name = {m.name: m.higher_is_better for m in self.metrics}
        self.plugin_sources = {f"{kind}:{e.name}": e.source for kind, e in plugins.all()}
        self.device = resolve_device(options.device)
        self.workers = default_workers() if options.workers is None else options.workers
        self._check_output_dir()
        self.dataset = self._load_data()
        self.cache_dir = None if options.no_cache else Path(options.cache_dir or default_cache_dir())
        self.file_facts = FileFacts(self.cache_dir)
        self.audit = run_audit(self.dataset, self.suite, self.file_facts)
        self.file_facts.save()
        check_leaks(self.audit, self.suite.data.allow_duplicates)
        self._samples = self.dataset.by_path()
        self.features = FeatureStore(self.device, self.workers, self.cache_dir, self.file_facts,
                                     fast_decode=self.suite.data.fast_decode)
        paths = self.paths_used()
        prompts = list(self.prompts.real) + list(self.prompts.fake)
        for resolved in self.detectors:
            # weights that cannot load fail here, before any output; a warm cache needs no model
            if resolved.spec and self._pending(resolved) and self.features.needs_encoder(resolved.spec, paths, prompts):
                self._encoder(resolved.spec, resolved.name)

    # -- setup ---------------------------------------------------------------------------------
    def _data_root(self) -> Path | None:
        root = self.options.data_dir or self.suite.data.root
        if root and not self.options.data_dir and not Path(root).is_absolute():
            root = Path(self.suite.source).parent / root  # a suite's own paths are relative to it
        return Path(root) if root else None

    def _load_data(self) -> Dataset:
        root = self._data_root()
        if self.suite.data.synthetic is not None:
            settings = {**synthetic.DEFAULTS, **self.suite.data.synthetic}
            unknown = set(settings) - set(synthetic.DEFAULTS)
            if unknown:
                raise BenchmarkError(f"{self.suite.source}: unknown suite key 'data.synthetic.{sorted(unknown)[0]}'")
            root = synthetic.generate(root or self.out / "synthetic-data", **settings)
        if root is None:
            raise BenchmarkError(f"{self.suite.source}: no data: pass --data-dir DIR or set data.root")
        splits = self.suite.data.splits
        if splits and not Path(splits).is_absolute():
            splits = Path(self.suite.source).parent / splits
        return load_dataset(self.suite.data, root, self.suite.classes, Path(splits) if splits else None)

    def _check_output_dir(self) -> None:
        """An existing run is resumed only if it ran the same suite; never overwrite another run."""
        suite_file = self.out / "suite.yaml"
        if suite_file.exists() and suite_file.read_text() != self.suite.to_yaml():
            raise BenchmarkError(
                f"{self.out} holds a run of a different suite (see {suite_file}); "
                f"choose another --output-dir or delete that folder"
            )

    # -- features ------------------------------------------------------------------------------
    def _pending(self, resolved: ResolvedDetector) -> bool:
        """Whether any training run or cell of this detector is still to do."""
        done = {cell_key(r) for r in read_results(self.out)}
        return self.options.mode == "train" or any(
            (resolved.name, train, test, seed) not in done
            for train in self.suite.train_sets for test in self.suite.tests_for(train) for seed in self.suite.seeds)

    def paths_used(self) -> list[str]:
        """Every image this run's training and test cells read (a class only tested is read only
        in its test split)."""
        paths = []
        for train in self.suite.train_sets:
            if self.options.mode != "test":
                paths += self.dataset.cell(train, "train").paths + self.dataset.cell(train, "val").paths
            if self.options.mode != "train":
                for test in self.suite.tests_for(train):
                    paths += self.dataset.cell(test, "test").paths
        return list(dict.fromkeys(paths))

    def _encoder(self, spec, detector_name: str):
        try:
            return self.features.encoder(spec)
        except BenchmarkError as e:  # name the option that fixes it
            raise BenchmarkError(f"detectors.{detector_name}.{e}") from None

    def _with_features(self, detector: Detector, name: str, samples: Samples, progress: Progress) -> Samples:
        spec = detector.frozen_encoder()
        if spec is not None:
            samples.features = self.features.images(spec, samples.paths, progress)
        return samples

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / "suite.yaml", self.suite.to_yaml())
        self.dataset.write_splits(self.out / "splits.csv")
        write_json(self.out / "audit.json", self.audit)
        meta = self._meta()
        write_json(self.out / "meta.json", meta)
        done = {cell_key(r) for r in read_results(self.out)}
        if self.suite.data.synthetic is not None:
            self.console.print(f"[bold yellow]{DEMO_NOTICE}[/]")
        self.console.print(f"[bold]{self.suite.name}[/]: {len(self.dataset.samples)} images, device "
                           f"{meta['device']}, output {self.out}")
        for warning in self.audit["warnings"]:
            self.console.print(f"[yellow]audit warning:[/] {warning}", highlight=False)

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[stats]}"), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            # one decoding pass over every image the run reads, before any training: a single
            # pipeline keeps the encoder busy, where one per cell would restart it each time
            paths = self.paths_used()
            for spec in dict.fromkeys(d.spec for d in self.detectors if d.spec and self._pending(d)):
                self.features.images(spec, paths, progress)
            for resolved in self.detectors:
                for train in self.suite.train_sets:
                    for seed in self.suite.seeds:
                        tests = [t for t in self.suite.tests_for(train) if (resolved.name, train, t, seed) not in done]
                        if tests or self.options.mode == "train":
                            self._train_and_score(resolved, train, seed, tests, progress)

        rows = read_results(self.out)
        meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        meta["features"] = {**self.features.counts, "cache_dir": str(self.cache_dir) if self.cache_dir else None}
        self.console.print("features: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in meta["features"].items()),
                           highlight=False)
        write_json(self.out / "meta.json", meta)
        atomic_write(self.out / "report.md", render_markdown(rows, meta, self.audit))
        if rows:
            render_console(rows, meta, self.console)
        self.console.print(f"report: {self.out / 'report.md'}")
        return rows

    def _context(self, name: str, seed: int, log, folder: Path, detector: Detector, progress: Progress,
                 label: str) -> FitContext:
        @contextlib.contextmanager
        def epoch_progress(total: int):
            task = progress.add_task(f"train {label}", total=total, stats="")

            def advance(**stats):
                text = " ".join(f"{k}={v:.3f}" for k, v in stats.items())
                progress.update(task, advance=1, stats=text)

            yield advance

        def batches(samples, transform, batch_size, shuffle=False):
            return image_batches(samples.paths, samples.labels, transform, batch_size, shuffle, seed, self.workers)

        spec = detector.frozen_encoder()
        return FitContext(
            device=self.device, seed=seed, prompts=self.prompts, log=log,
            encode_text=(lambda texts: self.features.texts(spec, texts)) if spec else None,
            progress=epoch_progress, image_batches=batches,
        )

    def _train_and_score(self, resolved: ResolvedDetector, train: str, seed: int, tests, progress) -> None:
        folder = train_dir(self.out, resolved.name, train, seed)
        folder.mkdir(parents=True, exist_ok=True)
        label = f"{resolved.name} on {train} (seed {seed})"
        with open(folder / "run.log", "a") as log_file:
            def log(message: str) -> None:
                log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
                log_file.flush()

            _seed_everything(seed)
            detector = resolved.build()
            ctx = self._context(resolved.name, seed, log, folder, detector, progress, label)
            final = folder / FINAL_MODEL
            if self.options.mode == "test":
                if not final.exists():
                    raise BenchmarkError(f"--mode test: {final} does not exist; run with --mode train (or both) first")
                saved = torch.load(final, map_location="cpu", weights_only=False)
                detector.load_state_dict(saved["state"])
                selected = saved["selection"]
                log(f"loaded {final} (epoch {selected['epoch']}, threshold {selected['threshold']:.4f})")
            else:
                train_set = self._with_features(detector, resolved.name, self.dataset.cell(train, "train"), progress)
                val_set = self._with_features(detector, resolved.name, self.dataset.cell(train, "val"), progress)
                log(f"train {label}: {int((train_set.labels == 0).sum())} real, {int(train_set.labels.sum())} fake; "
                    f"val {len(val_set)} images; device {self.device}; options {resolved.options}")
                started = time.perf_counter()
                _seed_everything(seed)  # after encoding, so a warm or cold cache trains identically
                selection = self.suite.selection
                selected = fit_and_select(detector, train_set, val_set, ctx, folder, selection.epoch,
                                          selection.threshold).to_dict()
                atomic_save({"state": detector.state_dict(), "detector": resolved.name, "options": resolved.options,
                             "train": train, "seed": seed, "selection": selected}, final)
                log(f"trained in {time.perf_counter() - started:.2f}s; saved {final}")
            if self.options.mode == "train":
                return
            for test in tests:
                self._score_cell(resolved.name, detector, ctx, train, test, seed, selected, progress, log)

    def _score_cell(self, name, detector, ctx, train, test, seed, selected, progress, log) -> None:
        """A test set is scored once, by the model selected on val, at the threshold chosen on val."""
        samples = self._with_features(detector, name, self.dataset.cell(test, "test"), progress)
        task = progress.add_task(f"score {name}: {train} -> {test}", total=len(samples), stats="")
        scores = np.asarray(detector.predict(samples, ctx), dtype=np.float64)
        progress.update(task, completed=len(samples))
        if scores.shape != (len(samples),) or not np.all(np.isfinite(scores)):
            raise BenchmarkError(f"detector {name} returned {scores.shape} scores for {len(samples)} images, "
                                 f"or non-finite values; predict() must give one P(fake) per image")
        threshold = selected["threshold"]
        values = compute_metrics(self.metrics, samples.labels, scores, threshold)
        fixed = [m for m in self.metrics if m.thresholded]
        values.update(compute_metrics(fixed, samples.labels, scores, FIXED_THRESHOLD, suffix=f"@{FIXED_THRESHOLD:g}"))
        counts = {"n_real": int((samples.labels == 0).sum()), "n_fake": int(samples.labels.sum())}
        if self.dataset.has_videos:
            keys = [(self._samples[p].cls, self._samples[p].video) for p in samples.paths]
            video_labels, video_scores = video_level(keys, samples.labels, scores)
            values.update(compute_metrics(self.metrics, video_labels, video_scores, threshold, prefix="video_"))
            counts.update(n_real_videos=int((video_labels == 0).sum()), n_fake_videos=int(video_labels.sum()))
        if self.suite.selection.oracle:
            values.update(self._oracle(detector, ctx, samples, train_dir(self.out, name, train, seed)))
        row = {"detector": name, "train": train, "test": test, "seed": seed, **values, **counts,
               "threshold": threshold, "selected_epoch": selected["epoch"], "val_auc": selected["val_auc"]}
        write_cell(cell_dir(self.out, name, train, seed, test), samples, scores, row, threshold)
        append_result(self.out, row)
        log(f"test {test}: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))

    def _oracle(self, detector, ctx, samples: Samples, folder: Path) -> dict:
        """DeepfakeBench-style: the best test AUC over all epochs' checkpoints. Optimistic by
        construction (the epoch is picked on test); reported only when asked for, and labelled."""
        selected = detector.state_dict()
        best = (float("nan"), None)
        for checkpoint in sorted(folder.glob("checkpoint_epoch_*.pth"), key=lambda p: int(p.stem.rsplit("_", 1)[1])):
            saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
            detector.load_state_dict(saved["state"])
            value = auc_or_nan(samples.labels, detector.predict(samples, ctx))
            if best[1] is None or value > best[0]:
                best = (value, saved["epoch"])
        detector.load_state_dict(selected)
        return {"oracle_auc": best[0], "oracle_epoch": best[1]}

    def report_metrics(self) -> list[str]:
        """Columns of the report: frame metrics, thresholded ones at 0.5 too, video metrics."""
        names = [m.name for m in self.metrics]
        names += [f"{m.name}@{FIXED_THRESHOLD:g}" for m in self.metrics if m.thresholded]
        if self.dataset.has_videos:
            names += [f"video_{m.name}" for m in self.metrics]
        if self.suite.selection.oracle:
            names.append("oracle_auc")
        return names

    def _meta(self) -> dict:
        return {
            "suite": self.suite.name,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv),
            "mode": self.options.mode,
            "device": describe_device(self.device),
            "seeds": list(self.suite.seeds),
            "metrics": self.report_metrics(),
            "lower_is_better": [name for name in self.report_metrics()
                                if not self.metrics_by_name.get(name.removeprefix("video_").split("@")[0], True)],
            "selection": {"epoch": self.suite.selection.epoch, "threshold": self.suite.selection.threshold},
            "data_root": str(self.dataset.root),
            "demo": self.suite.data.synthetic is not None,
            "layout": self.suite.data.layout,
            "splits": self.suite.data.splits or f"by video, fractions {dict(self.suite.data.split)}",
            "frames_per_video": self.suite.data.frames_per_video,
            "fast_decode": self.suite.data.fast_decode,
            "detectors": {d.name: {"options": d.options, "source": d.source} for d in self.detectors},
            "prompts": {"name": self.suite.prompts, "real": list(self.prompts.real), "fake": list(self.prompts.fake)},
            "plugins": self.plugin_sources,
            "versions": versions(),
            "git_commit": git_commit(),
        }
