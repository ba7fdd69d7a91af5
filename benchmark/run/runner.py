"""A run: suite -> plan -> executor -> store -> report.

:class:`Run` checks everything a user can get wrong (suite, plugins, options, data, unreadable
images, leaks, the run dir's identity, model weights) before the first byte is written; then
:meth:`Run.run` locks the run dir, records the run, has the executor carry out the plan, and
writes the report. Rerunning resumes; a different experiment is refused (see benchmark.run.identity).
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmark import plugins as plugin_registry
from benchmark.data import synthetic
from benchmark.data.audit import cached_audit, check_leaks, run_audit, scan_files, unreadable
from benchmark.data.dataset import Dataset, available_classes, load_dataset, splits_folder
from benchmark.data.manifest import prepare_provenance
from benchmark.environment import describe_device, git_commit, resolve_device, versions
from benchmark.errors import BenchmarkError
from benchmark.data.facts import FileFacts
from benchmark.features.cache import default_cache_dir
from benchmark.features.encoders import (FeatureStore, default_workers, encoder_identity, encoder_key,
                                        fetch_start_weights)
from benchmark.metrics import report_columns
from benchmark.perturbations import parse
from benchmark.report.render import DEMO_NOTICE
from benchmark.report.write import report_runs
from benchmark.run.executor import FINAL_MODEL, LocalExecutor
from benchmark.files import to_json
from benchmark.run.identity import IDENTITY, data_digests, fingerprint, harness_version
from benchmark.run.phases import Phases
from benchmark.pseudo.resolve import resolve_generators
from benchmark.pseudo.setup import audit_with_fakes, pseudo_fakes, write_run_files
from benchmark.run.plan import make_plan
from benchmark.run.resolve import resolve_detectors
from benchmark.run.results import cell_key
from benchmark.run.store import RunStore
from benchmark.suite import ALL, Suite

MODES = ("both", "train", "test")
EXECUTORS = ("local", "ray")


@dataclass
class RunOptions:
    output_dir: Path | None = None
    data_dir: str | None = None
    mode: str = "both"
    device: str = "auto"
    workers: int | None = None
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/forgery-benchmark
    no_cache: bool = False
    extend: bool = False  # allow additive changes (seeds, tests, detectors, metrics) to a finished run
    executor: str = "local"  # or "ray": tasks on a Ray instance (see benchmark.run.ray_executor)
    address: str | None = None  # with ray: a cluster to join ("auto", host:port); None starts a local one
    threads: int | None = None  # torch threads on CPU (local: default all cores; ray: per CPU task, default 1)
    command: str = field(default_factory=lambda: " ".join(["benchmark", *sys.argv[1:]]))  # recorded in meta
    console: Console = field(default_factory=lambda: Console(stderr=False))


def default_output_dir(suite: Suite) -> Path:
    """A run's own suite.yaml reruns into its run dir; any other suite into reports/<name>/."""
    here = Path(suite.path or suite.source).parent
    return here if (here / IDENTITY).is_file() else Path("reports") / suite.name


class Run:
    def __init__(self, suite: Suite, options: RunOptions):
        if options.mode not in MODES:
            raise BenchmarkError(f"--mode must be one of {', '.join(MODES)}, got {options.mode!r}")
        if options.executor not in EXECUTORS:
            raise BenchmarkError(f"--executor must be one of {', '.join(EXECUTORS)}, got {options.executor!r}")
        if options.address and options.executor != "ray":
            raise BenchmarkError("--address joins a Ray cluster: pass --executor ray with it")
        self.options = options
        self.console = options.console
        self.phases = Phases()
        self.out = Path(options.output_dir or default_output_dir(suite))
        self.store = RunStore(self.out)
        # everything a user can get wrong is checked before the first file is written
        with self.phases("plugins"):
            plugins = plugin_registry.collect()
            self.detectors = resolve_detectors(suite, plugins)
        self.metrics = [plugins.metrics.get(m, where=f"{suite.source}: metrics").value for m in suite.metrics]
        self.perturbations = {name: parse(name, plugins.perturbations, f"{suite.source}: perturbations")
                              for name in suite.perturbations}
        self.plugin_sources = {f"{kind}:{e.name}": e.source for kind, e in plugins.all()}
        self.generator_names = {e.name for e in plugins.generators}
        if options.executor == "ray":
            from benchmark.run.ray_executor import require_ray

            require_ray()  # said before anything else is checked
            self.device = torch.device("cpu")  # the driver's own work (prompts, weight checks); tasks get GPUs
        else:
            self.device = resolve_device(options.device)
        self.workers = default_workers() if options.workers is None else options.workers
        self.store.existing_identity()  # not a file, not someone else's folder
        with self.phases("resolve"):
            self.suite = self._resolve_data(suite)
            self.generators = resolve_generators(self.suite, plugins)
        root = Path(self.suite.data.root)
        if self.suite.data.layout != "manifest" and self.out.resolve().is_relative_to(root):
            # its folders (with figures: images) would be read as a class by the next `test: all`
            raise BenchmarkError(f"--output-dir {self.out} is inside the data root {root}; write runs outside the "
                                 "data (or list the data in a manifest: data.layout manifest)")
        self.cache_dir = None if options.no_cache else Path(options.cache_dir or default_cache_dir())
        self.file_facts = FileFacts(self.cache_dir)
        self.dataset, self.audit, self.table = self._read_data()
        with self.phases("landmarks"):
            self.pseudo = pseudo_fakes(self.dataset, self.generators, self.file_facts.digest, self.cache_dir,
                                       self.workers, say=lambda line: self.console.print(line, highlight=False))
        self.audit = audit_with_fakes(self.audit, self.pseudo, self.generators)
        with self.phases("identity"):
            self.identity = fingerprint(self.suite, self.table, self.detectors,
                                        self._encoder_keys(), self.report_metrics(), self.data_digests,
                                        self.generators)
            self.status = self.store.check_identity(self.identity, self.table, options.extend)
        with self.phases("plan"):
            done = {cell_key(r) for r in self.store.results()} if self.status != "new" else set()
            self.plan = make_plan(self.suite, self.dataset, {d.name: d.spec for d in self.detectors}, done,
                                  options.mode, self.pseudo)
            self._check_test_mode()
        digest = self.pseudo.digest_or(self.file_facts.digest) if self.pseudo else self.file_facts.digest
        self.features = FeatureStore(self.device, self.workers, self.cache_dir, digest,
                                     fast_decode=self.suite.data.fast_decode, made=self.pseudo)
        with self.phases("cache"):
            for (spec, perturbation), paths in self.plan.encodings.items():
                # weights that cannot load fail here, before any output; a warm cache needs no model
                texts = [t for d in self.detectors if d.spec == spec and d.reads_prompts
                         for t in (*d.prompts.real, *d.prompts.fake)]
                if self.features.needs_encoder(spec, paths, texts, self.perturbations[perturbation]):
                    self._encoder(spec)
            training = {run.detector for run in self.plan.runs} if options.mode != "test" else set()
            fetch_start_weights([d for d in self.detectors if d.name in training])
        self.cluster = None
        if options.executor == "ray":  # last: a refused run never starts Ray
            from benchmark.run.ray_executor import RayCluster

            self.cluster = RayCluster.connect(options.address, options.device, options.workers, options.threads)

    # -- setup ---------------------------------------------------------------------------------
    def _resolve_data(self, suite: Suite) -> Suite:
        """The suite as it will run: absolute data root, `test: all` expanded, classes checked."""
        root = self.options.data_dir or suite.data.root
        here = Path(suite.path or suite.source).parent
        if root and not self.options.data_dir and not Path(root).is_absolute():
            root = here / root  # a suite's own paths are relative to it
        if suite.data.synthetic is not None:
            settings = {**synthetic.DEFAULTS, **suite.data.synthetic}
            unknown = set(settings) - set(synthetic.DEFAULTS)
            if unknown:
                raise BenchmarkError(f"{suite.source}: unknown suite key 'data.synthetic.{sorted(unknown)[0]}'")
            target = Path(root or self.out / synthetic.FOLDER)
            made = synthetic.made_with(target)
            if made not in (None, synthetic.settings_for(**settings)) and self.store.existing_identity() is not None:
                # redrawing would change the data of the finished run that lives here
                raise BenchmarkError(f"{self.out} holds another experiment: data.synthetic: {made} -> "
                                     f"{synthetic.settings_for(**settings)}; choose another --output-dir")
            root = synthetic.generate(target, **settings)
        if root is None:
            raise BenchmarkError(f"{suite.source}: no data: pass --data-dir DIR or set data.root")
        root = Path(root).resolve()
        if not root.is_dir():
            raise BenchmarkError(f"data root {root} is not a folder; pass --data-dir or set data.root")
        splits = suite.data.splits
        if splits and splits != "official":
            splits = str(splits_folder(splits, here).resolve())
        classes = available_classes(suite.data, root)
        suite = suite.with_generators(self.generator_names - set(classes))
        for name in (*suite.sets, *suite.generators):
            if name in classes:  # the set would silently stand in for the data's class in every cell
                what = f"set '{name}' (sets.{name})" if name in suite.sets else f"generator '{name}' (generators.{name})"
                raise BenchmarkError(f"{suite.source}: {what} has the name of the class '{name}' in {root}; rename it")
        wants_all = any(p.test == (ALL,) for p in suite.pairings)
        return suite.resolved(root, splits, classes if wants_all else None)

    def _read_data(self) -> tuple[Dataset, dict, pd.DataFrame]:
        """(dataset without unreadable images, audit, path/class/split/sha256 table); stops on
        too many unreadable images and on leaks."""
        data = self.suite.data
        with self.phases("list"):
            dataset = load_dataset(data, data.root, self.suite.classes, splits_folder(data.splits, Path(".")),
                                   self.suite.real_classes, self.suite.sets, self.suite.test_only_classes,
                                   self.suite.generators)
        with self.phases("facts"):
            facts = scan_files(dataset, self.file_facts)
        with self.phases("audit"):
            bad = unreadable(dataset, facts, data)
            dataset = dataset.without(b["path"] for b in bad)
            table = dataset.to_frame()[["path", "class", "split"]]
            table = table.assign(sha256=[facts[p][0] for p in table["path"].tolist()])
            self.data_digests = data_digests(table)
            audit = cached_audit(self.cache_dir, self._audit_key(dataset, bad),
                                 lambda: run_audit(dataset, self.suite, facts, bad))
            check_leaks(audit, data.allow_duplicates)
        return dataset, audit, table

    def _audit_key(self, dataset: Dataset, bad: list[dict]) -> str:
        """Everything an audit depends on: the data (paths, splits, content), who is real, what each
        cell trains and tests on, what was unreadable, and the harness that audits."""
        blob = to_json([harness_version(), self.data_digests, sorted(dataset.reals), sorted(dataset.test_only),
                        {name: [list(s.real), list(s.fake)] for name, s in dataset.sets.items()}, dataset.real,
                        {train: list(self.suite.tests_for(train)) for train in self.suite.train_sets}, bad,
                        dataset.left_out])
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def _encoder_keys(self) -> dict[str, str]:
        keys = {}
        for d in self.detectors:
            if d.network is not None:
                try:
                    keys[d.name] = encoder_key(d.network, self.file_facts, self.suite.data.fast_decode)
                except BenchmarkError as e:  # an unknown weights tag: name the option that fixes it
                    raise BenchmarkError(f"detectors.{d.name}.{e}") from None
        return keys

    def _encoder(self, spec):
        try:
            return self.features.encoder(spec)
        except BenchmarkError as e:  # name the option that fixes it
            name = next(d.name for d in self.detectors if d.spec == spec)
            raise BenchmarkError(f"detectors.{name}.{e}") from None

    def _check_test_mode(self) -> None:
        if self.options.mode != "test":
            return
        for run in self.plan.runs:
            final = self.store.training_dir(run.detector, run.train, run.seed) / FINAL_MODEL
            if not final.exists():
                raise BenchmarkError(f"--mode test: {final} does not exist; run with --mode train (or both) first")

    def paths_used(self) -> list[str]:
        """Every image the planned work reads (for benchmarks)."""
        return list(dict.fromkeys(p for paths in self.plan.encodings.values() for p in paths))

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        created = not self.out.exists()
        self.store.lock()
        threads = torch.get_num_threads()
        if self.options.threads and self.cluster is None:  # a Ray task sets its own
            torch.set_num_threads(self.options.threads)
        try:
            if self.status == "resume" and not self.plan.runs:  # a finished run: say so, write only the log line
                self.store.check_identity(self.identity, self.table, self.options.extend)
                self.store.refresh_identity(self.identity)  # keys a newer harness records (at their defaults)
                self.phases.mark("done")
                self.store.log(f"resumed: {self.options.command}: nothing to do ({self.plan.finished} cells finished) "
                               f"{self.phases.line()}")
                self.console.print(f"[bold]{self.suite.name}[/]: {len(self.dataset.samples)} images, output {self.out}, "
                                   f"resuming ({self.plan.finished} cells done, 0 to run): nothing to do; "
                                   f"report {self.out / 'report.md'}")
                return self.store.results()
            try:  # under the lock: another process may have started here since the checks
                self.status = self.store.check_identity(self.identity, self.table, self.options.extend)
                meta = self.store.begin(self.status, self.identity, self.suite.to_yaml(), self.table, self.audit,
                                        self._meta(), self.options.mode, self.options.command)
            except BaseException:
                if created:  # leave nothing behind for a run that never began
                    self.store.unlock()
                    (self.out / ".lock").unlink(missing_ok=True)
                    _remove_empty(self.out)
                raise
            for name, figure in write_run_files(self.out, self.pseudo).items():
                meta["generators"][name]["figure"] = figure
            self._announce(meta)
            failure = None
            try:
                with Progress(*_COLUMNS, console=self.console, transient=False) as progress:
                    self._executor().execute(self.plan, progress)
            except BaseException as e:
                failure = e
                raise
            finally:
                self._finish(meta, failure)
            return self.store.results()
        finally:
            torch.set_num_threads(threads)
            self.store.unlock()
            if self.cluster is not None:
                self.cluster.shutdown()

    def _executor(self):
        # under nohup, CI or `| tee` the bars draw nothing until the end: one plain line per finished step instead
        plain = None if self.console.is_terminal else lambda line: self.console.print(line, markup=False,
                                                                                     highlight=False, soft_wrap=True)
        local = LocalExecutor(self.suite, self.dataset, {d.name: d for d in self.detectors}, self.metrics,
                              self.features, self.device, self.workers, self.store, self.options.mode,
                              self.perturbations, announce=plain, phases=self.phases, pseudo=self.pseudo)
        if self.cluster is None:
            return local
        from benchmark.run.ray_executor import RayExecutor

        digests = dict(zip(self.table["path"].tolist(), self.table["sha256"].tolist()))
        if self.pseudo is not None:  # a fixed pseudo-fake's identity stands for its content
            digests.update((path, recipe.digest) for path, recipe in self.pseudo.recipes.items())
        return RayExecutor(local, self.cluster, digests)

    def _announce(self, meta: dict) -> None:
        if self.suite.data.synthetic is not None:
            self.console.print(f"[bold yellow]{DEMO_NOTICE}[/]")
        what = {"new": "", "resume": f", resuming ({self.plan.finished} cells done, {self.plan.cells} to run)",
                "extend": f", extending ({self.plan.finished} cells done, {self.plan.cells} to run)"}[self.status]
        self.console.print(f"[bold]{self.suite.name}[/]: {len(self.dataset.samples)} images, device "
                           f"{meta['device']}, output {self.out}{what}")
        for warning in self.audit["warnings"]:
            self.console.print(f"[yellow]audit warning:[/] {escape(warning)}", highlight=False)

    def _finish(self, meta: dict, failure: BaseException | None) -> None:
        """Meta and report cover every finished cell, also after a failure (best effort then)."""
        rows = self.store.results()
        meta["features"] = {**self.features.counts, "cache_dir": str(self.cache_dir) if self.cache_dir else None}
        if failure is None:
            meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            self.store.log(f"finished: {len(rows)} cells")
        try:
            self.store.write_meta(meta)
            self.phases.mark("finish")
            self.store.log(self.phases.line())
        except OSError:
            if failure is None:
                raise
            return  # the original failure is what the user needs to see
        if failure is None:
            self.console.print("features: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in meta["features"].items()),
                               highlight=False)
        if not rows:
            return
        try:  # the report reads the store only, exactly as `benchmark report` does
            report_runs([self.out], self.console if failure is None else Console(quiet=True))
        except (BenchmarkError, OSError):
            if failure is None:
                raise
            return
        if failure is None:
            self.console.print(f"report: {self.out / 'report.md'}")

    def report_metrics(self) -> list[str]:
        """Columns of the report: frame metrics, thresholded ones at 0.5 too, video metrics."""
        names = [c.name for c in report_columns(self.metrics, self.dataset.has_videos)]
        return names + (["oracle_auc"] if self.suite.selection.oracle else [])

    def _meta(self) -> dict:
        return {
            "suite": self.suite.name,
            "mode": self.options.mode,
            "device": self.cluster.describe() if self.cluster else describe_device(self.device),
            "executor": self.cluster.meta() if self.cluster else {
                "kind": "local", "workers": self.workers, "threads": torch.get_num_threads()},
            "seeds": list(self.suite.seeds),
            "metrics": self.report_metrics(),
            # each column's direction from its metric plugin, never guessed from the name
            "lower_is_better": [c.name for c in report_columns(self.metrics, self.dataset.has_videos)
                                if not c.higher_is_better],
            "video_score": self.suite.data.video_score,
            "selection": {"epoch": self.suite.selection.epoch, "threshold": self.suite.selection.threshold},
            "data_root": str(self.dataset.root),
            "demo": self.suite.data.synthetic is not None,
            "layout": self.suite.data.layout,
            "splits": self.suite.data.splits or f"by video, fractions {dict(self.suite.data.split)}",
            "frames_per_video": self.suite.data.frames_per_video,
            "fast_decode": self.suite.data.fast_decode,
            "unreadable_images": len(self.audit["unreadable"]),
            "detectors": {d.name: {"use": d.plugin, "options": d.resolved_options, "set": d.options, "source": d.source,
                                   **({"prompts": {"name": d.prompts_name, "real": list(d.prompts.real),
                                                   "fake": list(d.prompts.fake)}} if d.reads_prompts else {})}
                          for d in self.detectors},
            # what made each detector's embeddings: library, model, weights (by file hash), preprocessing
            "encoders": {d.name: encoder_identity(d.network, self.file_facts, self.suite.data.fast_decode)
                         for d in self.detectors if d.network is not None},
            "prepare": prepare_provenance(self.suite.data, self.dataset.root),
            "perturbations": list(self.suite.perturbations),
            "generators": {name: {**g.meta(), **{split: self.pseudo.parts[name, split] for split in ("train", "val")}}
                           for name, g in self.generators.items()},
            "plugins": self.plugin_sources,
            "versions": versions(),
            "git_commit": git_commit(),
        }


_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn())


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
