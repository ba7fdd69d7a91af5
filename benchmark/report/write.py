"""Writing a report: report.md, results.csv, LaTeX tables and figures into one folder (the run dir,
or --out for a comparison). Every file is written atomically; nothing else in the folder changes."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write
from benchmark.report.build import open_study
from benchmark.report.exports import write_csv, write_latex
from benchmark.report.figures import slug, write_figures
from benchmark.report.render import leaderboard_table, matrix_table, render_console, render_markdown, title
from benchmark.report.study import Study
from benchmark.run.identity import IDENTITY

REPORT = "report.md"


def write_report(study: Study, notes: list[str], out: Path, audit: dict | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(study, out, study.config.figures)
    exports = [write_csv(study, out)] + write_latex(latex_tables(study), out)
    atomic_write(out / REPORT, render_markdown(study, notes, figures, exports, audit))
    return out / REPORT


def latex_tables(study: Study) -> dict:
    tables = {}
    for name in study.headline:
        tables[f"leaderboard_{name}"] = (leaderboard_table(study, name), f"Leaderboard: {title(study, name)}")
        for label in study.labels:
            matrix = matrix_table(study, label, name).replace(r"\*\*", "", regex=True)
            tables[f"matrix_{slug(label)}_{name}"] = (matrix, f"{label}: {title(study, name)}; rows train, "
                                                      "columns test; the diagonal is the own manipulation")
    return tables


def _check_out(out: Path, run_dirs) -> None:
    """A comparison never writes into a run dir: it would overwrite that run's own report files."""
    own = len(run_dirs) == 1 and Path(out).resolve() == Path(run_dirs[0]).resolve()  # the default, spelled out
    for folder in (Path(out).resolve(), *Path(out).resolve().parents):
        if (folder / IDENTITY).is_file() and not own:
            raise BenchmarkError(f"--out {out} is inside the run dir {folder}: its report files would be replaced; "
                                 "choose a folder outside every run dir")


def report_runs(run_dirs: list[str | Path], console: Console, out: Path | None = None, metrics: list[str] | None = None,
                report: dict | None = None, force: bool = False) -> Path | None:
    """`benchmark report`: one run -> its own folder (unless ``out``); several -> ``out`` or console only."""
    if out is not None:
        _check_out(out, run_dirs)
    study, notes = open_study(run_dirs, metrics, report, force)
    if out is None and len(run_dirs) == 1:
        out = Path(run_dirs[0])
    written = None
    if out is not None:
        audit_path = Path(run_dirs[0]) / "audit.json"
        audit = json.loads(audit_path.read_text()) if len(run_dirs) == 1 and audit_path.exists() else None
        written = write_report(study, notes, out, audit)
    render_console(study, notes, console)
    return written
