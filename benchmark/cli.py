"""Command line: ``benchmark run | validate | plugins | report | predict | prepare | generate | perf | new-plugin``.
Thin: parsing and messages only; each command's work lives in its own module."""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.errors import BenchmarkError


def _parser(recipes=()) -> argparse.ArgumentParser:
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
    run.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    run.add_argument("--workers", type=_non_negative, default=None, help="image decoding processes (default: cores - 1)")
    run.add_argument("--executor", default="local", choices=["local", "ray"],
                     help="local (this process) or ray (tasks on a Ray instance: all GPUs of this machine, or a cluster)")
    run.add_argument("--address", help="with --executor ray: join this Ray cluster (auto, or host:port) instead of "
                                       "starting a local one")
    run.add_argument("--threads", type=_positive, default=None, help="torch threads on CPU (default: every core; with "
                     "--executor ray: per task, default 1); pixel detectors' CPU numbers depend on it")
    run.add_argument("--cache-dir", help="embedding cache (default $XDG_CACHE_HOME/forgery-benchmark, else ~/.cache/...)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    run.add_argument("--extend", action="store_true",
                     help="add more seeds, test sets, detectors or metrics to a finished run (finished cells stay)")

    validate = commands.add_parser("validate", help="check a suite (keys, plugins, options; with --data-dir the "
                                   "data too) and print it resolved")
    validate.add_argument("suite")
    _add_set(validate)
    validate.add_argument("--data-dir", help="also check the data: class folders, images, counts per split")
    validate.add_argument("--cache-dir", help="where file facts are remembered (default as for run): a second validate "
                          "of unchanged data rereads no image")

    commands.add_parser("plugins", help="list every detector, prompt set, metric and encoder with its package")

    from benchmark.prepare.arguments import add_prepare

    add_prepare(commands, recipes, _positive, _non_negative)

    from benchmark.pseudo.generate import add_generate

    add_generate(commands, _positive)

    scaffold = commands.add_parser("new-plugin", help="write a plugin package skeleton (detector + suite + test)")
    scaffold.add_argument("name", help="the package and detector name, e.g. my-detector")
    scaffold.add_argument("--dir", default=".", help="where the package folder is created (default: here)")

    perf = commands.add_parser("perf", help="measure encoder, pipeline and whole-study throughput; prints JSON")
    perf.add_argument("data_dir", nargs="?", help="folder of class folders, e.g. ../shared/data/faces "
                      "(default: generated synthetic faces)")
    perf.add_argument("--real", default="Real", help="the real class folder (default Real)")
    perf.add_argument("--backbone", default="ViT-S-32-alt", help="encoder, e.g. timm:tf_efficientnet_lite0 "
                      "(default ViT-S-32-alt, an open_clip model)")
    perf.add_argument("--pretrained", default="none", help="its weights (default none: random; e.g. imagenet-lite)")
    perf.add_argument("--limit", type=int, default=100, help="videos/images per class (default 100; 0 = all)")
    perf.add_argument("--epochs", type=int, default=15)
    perf.add_argument("--workers", type=int, default=None)
    perf.add_argument("--device", default="auto")
    perf.add_argument("--ray", metavar="SUITE", help="instead: time SUITE with --executor local and ray, and encoding "
                      "on Ray workers vs the local pipeline (needs the ray extra)")
    perf.add_argument("--report", action="store_true", help="instead: time `benchmark report` on a fabricated 4 x 4 "
                      "matrix x 3 detectors x 3 seeds study, 10,000 images per cell, 1000 bootstrap resamples")
    perf.add_argument("--report-images", type=_positive, default=10_000, help="with --report: test images per cell")
    perf.add_argument("--scale", type=_positive, metavar="N", help="instead: the harness's own cost on N generated images "
                      "(cold, warm start, resume, validate, 512-d cache, failing commands), each a real command")
    perf.add_argument("--scale-dir", default=None, help="with --scale: where the images are made once and reused "
                      "(default: <cache dir>/perf-scale)")
    perf.add_argument("--no-cold", action="store_true", help="with --scale: skip the cold run (e.g. at 1 M images)")
    perf.add_argument("--threads", type=_positive, default=None, help="with --scale: pass --threads to each run")
    perf.add_argument("--train", metavar="DETECTOR", help="instead: training images/s of a pixel detector (e.g. "
                      "finetune, xception) and its epoch over a minimal hand-written PyTorch loop's")
    perf.add_argument("--faces", action="store_true", help="instead: faces/s per worker of prepare --faces with HOG, "
                      "--detect-size 320, CNN, --landmarks and --align on the same clips of DATA_DIR's photos")
    perf.add_argument("--generator", metavar="NAME", help="instead: blends/s per core of a pseudo-fake generator (e.g. "
                      "sbi) and a pixel detector's epoch (pixel-cnn, or --train) on real + generated vs real + stored fakes")
    perf.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                      help="with --train: a detector option (repeatable), e.g. --option backbone=timm:test_efficientnet")

    predict = commands.add_parser("predict", help="score new images with a trained model (final_model.pth or a run dir)")
    predict.add_argument("model", help="a final_model.pth, or a run dir with --detector and --train")
    predict.add_argument("inputs", nargs="+", help="image files and folders (recursive; sub-folders are videos)")
    predict.add_argument("--detector", help="with a run dir: the detector (variant) name")
    predict.add_argument("--train", help="with a run dir: the training set")
    predict.add_argument("--seed", type=int, help="with a run dir: the seed (default: the only one)")
    predict.add_argument("--out", help="write path,score,prediction[,video,video_score] to this CSV")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument("--workers", type=_non_negative, default=None, help="image decoding processes")
    predict.add_argument("--cache-dir", help="embedding cache (default as for run)")
    predict.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    predict.add_argument("--perturb", help="degrade every image first, e.g. jpeg:50 (as a run's perturbed test cells)")

    report = commands.add_parser("report", help="rebuild a run's report (rescored from its predictions), or compare runs")
    report.add_argument("run_dirs", nargs="+", help="run directories (the --output-dir of runs)")
    report.add_argument("--out", help="write report.md, results.csv, .tex and figures here (default: the run dir "
                        "for one run; the console only for several)")
    report.add_argument("--metrics", type=_name_list, help="rescore with these registered metrics, e.g. "
                        "auc,tpr@1%%fpr,balanced_accuracy (default: the run's own)")
    report.add_argument("--force", action="store_true", help="compare runs even when their test images differ")
    report.add_argument("--bootstrap", type=_non_negative, help="bootstrap resamples per interval (0: none; "
                        "default report.bootstrap of the run, 1000)")
    report.add_argument("--bootstrap-seed", type=_non_negative, help="seed of the resamples (default 0)")
    report.add_argument("--confidence", type=float, help="interval level (default 0.95)")
    report.add_argument("--roc-scale", choices=["linear", "log"], help="FPR axis of the ROC figures")
    report.add_argument("--figures", type=_name_list, help="figure formats: png, pdf, svg (e.g. png,pdf)")
    for name, command in commands.choices.items():
        if name != "prepare":  # its sub-commands have their own
            command.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a suite key, value parsed as YAML (repeatable), e.g. detectors.clip-adapter.epochs=2")
    shortcuts = parser.add_argument_group("shortcuts (set the option on every detector that has it)")
    shortcuts.add_argument("--epochs", type=_positive)
    shortcuts.add_argument("--lr", type=float)
    shortcuts.add_argument("--batch-size", type=_positive)
    shortcuts.add_argument("--seed", type=int, help="run this one seed (sets seeds)")
    shortcuts.add_argument("--seeds", type=_int_list, help="comma-separated seeds, e.g. 1,2,3")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def load_with_shortcuts(args):
    """The suite with --set overrides and the shortcut flags applied."""
    from benchmark.suite import load_suite

    suite = load_suite(args.suite, args.overrides)  # before any plugin (torch) is imported: a typo answers at once
    values = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
              "seeds": [args.seed] if args.seed is not None else args.seeds}
    if all(v is None for v in values.values()):
        return suite
    from benchmark import plugins
    from benchmark.run.resolve import shortcut_overrides

    extra = shortcut_overrides(suite, plugins.collect().detectors, values)
    return load_suite(args.suite, [*args.overrides, *extra]) if extra else suite


def _run(args, console: Console) -> int:
    suite = load_with_shortcuts(args)
    from benchmark.run.runner import Run, RunOptions

    options = RunOptions(output_dir=Path(args.output_dir) if args.output_dir else None, data_dir=args.data_dir,
                         mode=args.mode, device=args.device, workers=args.workers,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, no_cache=args.no_cache,
                         extend=args.extend, console=console, command=args.command_line, executor=args.executor,
                         address=args.address, threads=args.threads)
    Run(suite, options).run()
    return 0


def _validate(args, console: Console) -> int:
    """Everything `run` would reject before training; with --data-dir (or data.root) the data too."""
    suite = load_with_shortcuts(args)
    from benchmark.validate import validate_suite

    validate_suite(suite, args.data_dir, args.cache_dir, console)
    return 0


def _plugins(args, console: Console) -> int:
    from benchmark import plugins

    found = plugins.collect()
    table = Table(title="Installed plugins")
    for column in ("kind", "name", "package", "version", "module"):
        table.add_column(column, overflow="fold")  # long module names and reasons wrap, never cut
    for kind, entry in found.all():
        table.add_row(kind, entry.name, *entry.origin)
    console.print(table)
    # problems in full below the table, where a long reason is never folded into a narrow column
    for name, why in found.conflicts():
        console.print(f"[red]broken[/] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)
    for plugin, why in found.broken:
        console.print(f"[red]broken[/] plugin {escape(plugin)}: {escape(why)}", highlight=False, soft_wrap=True)
    return 0


def _report(args, console: Console) -> int:
    from benchmark.report.write import report_runs

    settings = {"bootstrap": args.bootstrap, "bootstrap_seed": args.bootstrap_seed, "confidence": args.confidence,
                "roc_scale": args.roc_scale, "figures": args.figures}
    written = report_runs(args.run_dirs, console, Path(args.out) if args.out else None, args.metrics, settings,
                          args.force)
    console.print(f"report: {written}" if written else "pass --out DIR to write the comparison's files")
    return 0


def _predict(args, console: Console) -> int:
    from benchmark.environment import resolve_device
    from benchmark.features.cache import default_cache_dir
    from benchmark.features.encoders import default_workers
    from benchmark.files import atomic_write
    from benchmark.run.predict import collect_inputs, model_path, predict

    path = model_path(args.model, args.detector, args.train, args.seed)
    inputs = collect_inputs(args.inputs)
    cache = None if args.no_cache else Path(args.cache_dir or default_cache_dir())
    perturb = None
    if args.perturb:
        from benchmark import plugins
        from benchmark.perturbations import parse

        perturb = parse(args.perturb, plugins.collect().perturbations, "--perturb")
        perturb = perturb if perturb.kind is not None else None
    frame = predict(path, inputs, resolve_device(args.device), default_workers() if args.workers is None
                    else args.workers, cache, perturb)
    if args.out:
        atomic_write(Path(args.out), frame.to_csv(index=False, float_format="%.9g"))
    table = Table(title=f"P(fake) by {path}", title_justify="left")
    for column in frame.columns:
        table.add_column(column, justify="right" if column != "path" else "left")
    for _, row in frame.head(20).iterrows():
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    more = f"; {len(frame) - 20} more in {args.out}" if args.out and len(frame) > 20 else (
        f"; pass --out FILE for all {len(frame)}" if len(frame) > 20 else "")
    console.print(f"{len(frame)} images scored, {int(frame.prediction.sum())} predicted fake{more}")
    return 0


def _perf(args, console: Console) -> int:
    import json

    from benchmark.perf import run_perf

    if args.report:
        import tempfile

        from benchmark.report.fabricate import report_perf

        with tempfile.TemporaryDirectory() as scratch:
            print(json.dumps(report_perf(Path(scratch) / "study", images_per_cell=args.report_images), indent=2))
        return 0
    if args.scale:
        from benchmark.features.cache import default_cache_dir
        from benchmark.perf_scale import run_scale

        log = Console(stderr=True)
        figures = run_scale(args.scale, Path(args.scale_dir or default_cache_dir() / "perf-scale"), cold=not args.no_cold,
                            threads=args.threads, log=lambda line: log.print(line, style="dim", highlight=False))
        print(json.dumps(figures, indent=2))
        return 0
    if args.generator:
        from benchmark.perf_generator import run_generator_perf
        from benchmark.perf_train import parse_options

        log = Console(stderr=True)
        print(json.dumps(run_generator_perf(args.generator, args.data_dir, args.real, args.limit or None, args.workers,
                                            args.device, args.train, parse_options(args.option),
                                            log=lambda line: log.print(line, style="dim", highlight=False)), indent=2))
        return 0
    if args.train:
        from benchmark.perf_train import parse_options, run_train_perf

        log = Console(stderr=True)
        print(json.dumps(run_train_perf(args.train, parse_options(args.option), args.data_dir, args.real,
                                        args.limit or None, args.workers, args.device,
                                        log=lambda line: log.print(line, style="dim", highlight=False)), indent=2))
        return 0
    if args.faces:
        from benchmark.perf_faces import run_faces_perf

        log = Console(stderr=True)
        print(json.dumps(run_faces_perf(args.data_dir, args.real, args.limit or None,
                                        log=lambda line: log.print(line, style="dim", highlight=False)), indent=2))
        return 0
    if args.ray:
        from benchmark.perf_ray import run_ray_perf

        print(json.dumps(run_ray_perf(args.ray, device=args.device, console=Console(stderr=True)), indent=2))
        return 0
    figures = run_perf(args.data_dir, console=Console(stderr=True), real=args.real, backbone=args.backbone, pretrained=args.pretrained, limit=args.limit or None,
                       epochs=args.epochs, workers=args.workers, device=args.device)
    print(json.dumps(figures, indent=2))
    return 0


def _prepare(args, console: Console) -> int:
    from benchmark.prepare.command import prepare_command

    return prepare_command(args, console)


def _new_plugin(args, console: Console) -> int:
    from benchmark.scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir))
    console.print(f"wrote {root}: pip install -e '{root}[dev]', then benchmark run {root / 'suite.yaml'}",
                  markup=False, highlight=False)
    return 0


def _generate(args, console: Console) -> int:
    from benchmark.pseudo.generate import run_generate

    return run_generate(args, console)


COMMANDS = {"generate": _generate, "prepare": _prepare, "new-plugin": _new_plugin, "predict": _predict, "perf": _perf, "run": _run, "validate": _validate, "plugins": _plugins, "report": _report}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if argv[:1] == ["prepare"]:  # its sub-commands are the registered dataset recipes: load plugins only then
        from benchmark.prepare.arguments import registered_recipes

        args = _parser(registered_recipes()).parse_args(argv)
    else:
        args = _parser().parse_args(argv)
    args.command_line = shlex.join(["benchmark", *argv])
    console = Console(emoji=False)  # user text such as "host:abc:" is never an emoji code
    errors = Console(stderr=True, emoji=False)
    try:
        return COMMANDS[args.command](args, console)
    except BenchmarkError as e:
        _traceback(args, e)
        # the message is the user's and ours, never markup: "[none, jpeg:50]" must print as written
        errors.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)
        return 2
    except OSError as e:  # disk full, read-only or missing folders: name the path
        _traceback(args, e)
        where = escape(str(e.filename or "output"))
        what = (f"disk full writing {where}; free some space" if e.errno == errno.ENOSPC else
                f"cannot write or read {where}: {escape(e.strerror or str(e))}; check the path and its permissions")
        errors.print(f"[bold red]error:[/] {what}, then rerun the same command to resume", markup=True,
                     highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted: finished cells are kept; rerun the same command to resume")
        return 130


def _traceback(args, error: BaseException) -> None:
    if args.debug:
        import traceback

        traceback.print_exception(error.__cause__ or error, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
