"""`benchmark validate`: what a run would refuse, said without running it (and without writing
anything but the file-facts and landmark memos): the suite, plugins and options, the data when there is a root,
and weights that a run would have to download first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark import plugins
from benchmark.encoders import split_backbone
from benchmark.perturbations import parse
from benchmark.pseudo.resolve import resolve_generators
from benchmark.run.resolve import resolve_detectors


def validate_suite(suite, data_dir: str | None, cache_dir: str | None, console: Console) -> None:
    """Everything `run` would reject before training; with ``data_dir`` (or data.root) the data too."""
    registry = plugins.collect()
    detectors = resolve_detectors(suite, registry)
    for metric in suite.metrics:
        registry.metrics.get(metric, where=f"{suite.source}: metrics")
    for name in suite.perturbations:
        parse(name, registry.perturbations, f"{suite.source}: perturbations")
    # without the data every registered generator name is one; with it, a run decides (a class wins)
    resolve_generators(suite.with_generators({e.name for e in registry.generators}), registry)
    if data_dir or (suite.data.root and suite.data.synthetic is None):
        _validate_data(suite, data_dir, cache_dir, console)
    else:
        console.print(suite.to_yaml(), markup=False, highlight=False)
    _validate_weights(suite, detectors, registry, console)  # after the data: its problems are said first
    console.print(f"[green]ok[/]: {escape(suite.source)}")


def _validate_weights(suite, detectors, registry, console: Console) -> None:
    """Weights a run would have to download first are said: ``ok`` must not hide a download (or, offline,
    a run that would stop on it)."""
    libraries = {entry.name for entry in registry.encoders}
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    for detector in detectors:
        spec = detector.network
        if spec is None:
            continue
        library, model = split_backbone(spec.model, libraries)
        if not registry.encoders.get(library).value.weights_missing(model, spec.pretrained):
            continue
        where = f"detectors.{detector.name}.pretrained: '{spec.pretrained}' for {spec.model}"
        what = ("is not in the local cache and cannot be downloaded (HF_HUB_OFFLINE is set): a run here would stop; "
                "set pretrained to a local weights file, or none" if offline
                else "is not cached: the first run downloads it")
        console.print(f"[yellow]note:[/] {escape(where)} {what}", highlight=False, soft_wrap=True)


def _validate_data(suite, data_dir, cache_dir, console: Console) -> None:
    from benchmark.run.runner import Run, RunOptions

    with tempfile.TemporaryDirectory() as scratch:  # checks only: nothing is written there
        run = Run(suite, RunOptions(output_dir=Path(scratch) / "run", data_dir=data_dir, cache_dir=cache_dir,
                                    workers=0, console=console))
    console.print(run.suite.to_yaml(), markup=False, highlight=False)
    table = Table(title="images (videos) per class and split")
    summary = run.dataset.summary()
    table.add_column("class")
    for column in summary.columns:
        table.add_column(str(column), justify="right")
    for cls, row in summary.iterrows():
        table.add_row(cls, *row.tolist())
    console.print(table)
    for warning in run.audit["warnings"]:
        console.print(f"[yellow]audit warning:[/] {escape(warning)}", highlight=False)
