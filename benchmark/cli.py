"""Command line: ``benchmark run | validate | plugins | report``. Thin: parsing and messages only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmark.errors import BenchmarkError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark", description="Generalization benchmarks for face-forgery detectors: train on one "
        "manipulation, test on others, report the train x test matrix.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a suite: train every detector on every training set, score every test set")
    run.add_argument("suite", help="suite YAML file, e.g. suites/ff++.yaml")
    _add_set(run)
    run.add_argument("--data-dir", help="folder holding the class folders (overrides data.root)")
    run.add_argument("--output-dir", help="where the run is written (default reports/<suite name>/)")
    run.add_argument("--mode", default="both", choices=["both", "train", "test"],
                     help="train and test (default), train only, or test saved final_model.pth files")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA when available")
    run.add_argument("--workers", type=int, default=None, help="image decoding processes (default: cores - 1)")
    run.add_argument("--cache-dir", help="embedding cache (default $XDG_CACHE_HOME/forgery-benchmark, else ~/.cache/...)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")

    validate = commands.add_parser("validate", help="check a suite (keys, plugins) and print it resolved")
    validate.add_argument("suite")
    _add_set(validate)

    commands.add_parser("plugins", help="list every detector, prompt set and metric with where it comes from")

    perf = commands.add_parser("perf", help="measure encoder, pipeline and whole-study throughput; prints JSON")
    perf.add_argument("data_dir", help="folder of class folders, e.g. ../shared/data/faces")
    perf.add_argument("--real", default="Real", help="the real class folder (default Real)")
    perf.add_argument("--backbone", default="ViT-S-32-alt", help="open_clip model, random weights (default ViT-S-32-alt)")
    perf.add_argument("--limit", type=int, default=100, help="videos/images per class (default 100; 0 = all)")
    perf.add_argument("--epochs", type=int, default=15)
    perf.add_argument("--workers", type=int, default=None)
    perf.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    report = commands.add_parser("report", help="rebuild a run's report, or compare several runs")
    report.add_argument("run_dirs", nargs="+", help="run directories (the --output-dir of runs)")
    report.add_argument("--metric", default="auc", help="metric to compare across runs (default auc)")
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a suite key, value parsed as YAML (repeatable), e.g. detectors.clip-adapter.epochs=2")


def _run(args, console: Console) -> int:
    from benchmark.runner import Run, RunOptions
    from benchmark.suite import load_suite

    suite = load_suite(args.suite, args.overrides)
    options = RunOptions(output_dir=Path(args.output_dir) if args.output_dir else None, data_dir=args.data_dir,
                         mode=args.mode, device=args.device, workers=args.workers,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, no_cache=args.no_cache,
                         console=console)
    Run(suite, options).run()
    return 0


def _validate(args, console: Console) -> int:
    from benchmark import plugins
    from benchmark.runner import resolve_detectors
    from benchmark.suite import load_suite

    suite = load_suite(args.suite, args.overrides)
    registry = plugins.collect()
    resolve_detectors(suite, registry.detectors)
    registry.prompt_sets.get(suite.prompts, where=f"{suite.source}: prompts")
    for metric in suite.metrics:
        registry.metrics.get(metric, where=f"{suite.source}: metrics")
    console.print(suite.to_yaml(), markup=False, highlight=False)
    console.print(f"[green]ok[/]: {suite.source}")
    return 0


def _plugins(args, console: Console) -> int:
    from benchmark import plugins

    table = Table(title="Installed plugins")
    for column in ("kind", "name", "source"):
        table.add_column(column)
    for kind, entry in plugins.collect().all():
        table.add_row(kind, entry.name, entry.source)
    console.print(table)
    return 0


def _report(args, console: Console) -> int:
    from benchmark.report import compare, rebuild_report, render_console
    from benchmark.results import atomic_write

    if len(args.run_dirs) == 1:
        rows, meta, markdown = rebuild_report(args.run_dirs[0])
        atomic_write(Path(args.run_dirs[0]) / "report.md", markdown)
        render_console(rows, meta, console)
        console.print(f"report: {Path(args.run_dirs[0]) / 'report.md'}")
        return 0
    frame = compare(args.run_dirs, args.metric)
    table = Table(title=f"{args.metric} by run")
    for column in ("detector", "train", "test", *frame.columns):
        table.add_column(str(column))
    for index, row in frame.iterrows():
        table.add_row(*index, *row.tolist())
    console.print(table)
    return 0


def _perf(args, console: Console) -> int:
    import json

    from benchmark.perf import run_perf

    figures = run_perf(args.data_dir, real=args.real, backbone=args.backbone, limit=args.limit or None,
                       epochs=args.epochs, workers=args.workers, device=args.device)
    print(json.dumps(figures, indent=2))
    return 0


COMMANDS = {"perf": _perf, "run": _run, "validate": _validate, "plugins": _plugins, "report": _report}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        return COMMANDS[args.command](args, console)
    except BenchmarkError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {e}", markup=True, highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: finished cells are kept; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
