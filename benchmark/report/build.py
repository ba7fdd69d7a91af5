"""Run directories -> a study ready to render: metrics resolved through the plugins, systems labelled
by what differs between them, and runs checked to be comparable before anything is compared."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd

from benchmark import plugins
from benchmark.errors import BenchmarkError
from benchmark.metrics import report_columns
from benchmark.report.runs import RunData, load_run_data
from benchmark.report.study import Study, System, build_study
from benchmark.suite import SCHEMA, ReportConfig, parse_report

DEFAULT_METRICS = SCHEMA["metrics"]


def open_study(run_dirs: list[str | Path], metrics: list[str] | None = None, report: dict | None = None,
               force: bool = False) -> tuple[Study, list[str]]:
    """(study, notes): notes say what differs between runs, for the report to print."""
    runs = [load_run_data(d) for d in run_dirs]
    names = metrics or list(dict.fromkeys(m for run in runs for m in run.suite.get("metrics", DEFAULT_METRICS)))
    registry = plugins.collect()
    where = "--metrics" if metrics else f"{runs[0].path / 'suite.yaml'}: metrics"
    chosen = [registry.metrics.get(name, where=where).value for name in names]
    columns = report_columns(chosen, any(run.has_videos for run in runs))
    notes = check_comparable(runs, force) if len(runs) > 1 else []
    config = report_config(runs[0], report or {})
    return build_study(label_systems(runs), columns, config), notes


def report_config(run: RunData, overrides: dict) -> ReportConfig:
    """The run's `report:` settings (suite.yaml), defaults for what it lacks, then command-line flags."""
    settings = {**SCHEMA["report"], **run.report_settings, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_report(settings, "report", str(run.path / "suite.yaml"))


def label_systems(runs: list[RunData]) -> list[System]:
    """One system per (run, detector). Labels are the detector name, plus for several runs the
    settings whose values differ between the systems (option values, seeds, ...), plus the run
    folder only where that still leaves two labels equal."""
    pairs = [(run, detector) for run in runs for detector in dict.fromkeys(r["detector"] for r in run.rows)]
    facts = [_describe(run, detector) for run, detector in pairs]
    labels = []
    for (run, detector), fact in zip(pairs, facts):
        same_name = [f for (_, d), f in zip(pairs, facts) if d == detector]  # other names already tell them apart
        differing = sorted({k for f in same_name for k in f
                            if len({json.dumps(g.get(k), sort_keys=True) for g in same_name}) > 1})
        shown = [f"{k}={_short(fact.get(k))}" for k in differing]
        labels.append(detector + (f" ({', '.join(shown)})" if shown else ""))
    repeated = {label for label in labels if labels.count(label) > 1}
    labels = [f"{label} [{run.path.name}]" if label in repeated else label for label, (run, _) in zip(labels, pairs)]
    return [System(label, run, detector) for label, (run, detector) in zip(labels, pairs)]


def _describe(run: RunData, detector: str) -> dict:
    spec = (run.meta.get("detectors") or {}).get(detector, {})
    options = {f"{k}": v for k, v in (spec.get("options") or {}).items()}
    facts = {"use": spec.get("use", detector), **options, "prompts": (spec.get("prompts") or {}).get("name"),
             "seeds": run.meta.get("seeds"), "video_score": run.video_score,
             "frames_per_video": run.meta.get("frames_per_video")}
    return {k: v for k, v in facts.items() if v is not None}


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:21] + "..."


def check_comparable(runs: list[RunData], force: bool) -> list[str]:
    """Refuses runs tested on different images (unless ``force``); notes every other difference
    (seeds, metric directions, video score, selection) so a reader knows what the comparison mixes."""
    notes, refusals = [], []
    for a, b in itertools.combinations(runs, 2):
        names = f"{a.path.name} vs {b.path.name}"
        for test in _shared_tests(a, b):
            classes = sorted(set(a.predictions_classes(test)) | set(b.predictions_classes(test)))
            fa, fb = a.test_fingerprint(classes), b.test_fingerprint(classes)
            if fa is None or fb is None:
                notes.append(f"{names}: cannot check that test set {test} holds the same images (no splits.csv)")
            elif fa != fb:
                refusals.append(f"{names}: test set {test} holds different images ({_test_difference(a, b, classes)})")
        for key, what in (("seeds", "seeds"), ("video_score", "video score"), ("selection", "model selection")):
            va, vb = a.meta.get(key), b.meta.get(key)
            if va != vb:
                notes.append(f"{names}: {what} differ: {json.dumps(va)} vs {json.dumps(vb)}")
        # both are rescored here by the installed metric plugins; say where a run was scored by another
        sources = [{k: v for k, v in (r.meta.get("plugins") or {}).items() if k.startswith("metric:")} for r in (a, b)]
        for key in sorted(sources[0].keys() & sources[1].keys()):
            if sources[0][key] != sources[1][key]:
                notes.append(f"{names}: {key} came from {sources[0][key]} vs {sources[1][key]} (both rescored "
                             "here with the installed one)")
        versions = (a.meta.get("versions") or {}).get("forgery-benchmark"), (b.meta.get("versions") or {}).get("forgery-benchmark")
        if versions[0] != versions[1]:
            notes.append(f"{names}: harness versions differ: {versions[0]} vs {versions[1]}")
    if refusals and not force:
        raise BenchmarkError(f"{refusals[0]}; their numbers are not comparable. Pass --force to compare anyway "
                             "(differences then carry no paired interval)")
    return [f"not comparable, compared anyway (--force): {r}" for r in refusals] + notes


def _shared_tests(a: RunData, b: RunData) -> list[str]:
    tests_a = list(dict.fromkeys(r["test"] for r in a.rows))
    tests_b = {r["test"] for r in b.rows}
    return [t for t in tests_a if t in tests_b]


def _test_difference(a: RunData, b: RunData, classes: list[str]) -> str:
    def paths(run):
        table = run.splits[(run.splits["split"] == "test") & run.splits["class"].isin(classes)]
        return dict(zip(table["path"], table["sha256"]))
    pa, pb = paths(a), paths(b)
    only_a, only_b = len(pa.keys() - pb.keys()), len(pb.keys() - pa.keys())
    changed = sum(pa[p] != pb[p] for p in pa.keys() & pb.keys())
    return f"{only_a} only in the first, {only_b} only in the second, {changed} with other content"


def load_runs(run_dirs: list[str | Path], metrics: list[str] | None = None, bootstrap: int | None = None) -> pd.DataFrame:
    """Runs as one tidy pandas DataFrame: a row per system x train x test x seed, every metric with
    its interval (``<metric>_lo``, ``<metric>_hi``), test sizes, threshold and selected epoch.

    >>> import benchmark
    >>> frame = benchmark.load_runs(["reports/demo"])
    >>> frame.groupby("system")["auc"].mean()
    """
    study, _ = open_study(list(run_dirs), metrics, {"bootstrap": bootstrap}, force=True)
    return study.cells
