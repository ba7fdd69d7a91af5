"""Rows of results.jsonl -> train x test matrices, rendered as Markdown and as rich tables from the
same formatted strings, so the console and report.md always show the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmark.errors import BenchmarkError
from benchmark.results import read_results

DEMO_NOTICE = (
    "SMOKE DEMO: synthetic cartoon faces and a randomly initialised backbone. "
    "These numbers only show that the harness runs; they mean nothing about deepfake detection."
)
LOWER_IS_BETTER = {"eer"}


def _fmt(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def metric_columns(rows: list[dict], meta: dict | None = None) -> list[str]:
    if meta and meta.get("metrics"):
        return list(meta["metrics"])
    skip = {"detector", "train", "test", "seed", "n_real", "n_fake", "threshold"}
    return [k for k in rows[0] if k not in skip] if rows else []


def matrices(rows: list[dict], metrics: list[str]) -> list[tuple[str, str, pd.DataFrame]]:
    """(detector, metric, train x test table of formatted strings; seeds pooled as mean ± sd)."""
    frame = pd.DataFrame(rows)
    out = []
    for detector, group in frame.groupby("detector", sort=False):
        trains = list(dict.fromkeys(group["train"]))
        tests = list(dict.fromkeys(group["test"]))
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce") if metric in group else pd.Series(dtype=float)
            table = pd.DataFrame("", index=trains, columns=tests)
            for (train, test), cell in group.assign(_v=values).groupby(["train", "test"], sort=False):
                table.loc[train, test] = _fmt(cell["_v"])
            table.index.name = "train \\ test"
            out.append((detector, metric, table))
    return out


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        lines.append("| " + " | ".join([str(index)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def _metric_title(metric: str) -> str:
    direction = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    return f"{metric.upper() if len(metric) <= 3 else metric} ({direction})"


def render_markdown(rows: list[dict], meta: dict) -> str:
    metrics = metric_columns(rows, meta)
    parts = [f"# Benchmark report: {meta.get('suite', '?')}", ""]
    if meta.get("demo"):
        parts += [f"> **{DEMO_NOTICE}**", ""]
    parts += [
        "Rows are training sets (real + that manipulation), columns are test sets (real + that "
        "manipulation, from the held-out test split). Fake is the positive class; F1 and accuracy "
        f"at threshold {meta.get('threshold', 0.5)}.",
        "",
    ]
    if not rows:
        parts += ["No finished cells yet.", ""]
    for detector, metric, table in matrices(rows, metrics) if rows else []:
        parts += [f"## {detector}: {_metric_title(metric)}", "", markdown_table(table), ""]
    parts += ["## Run facts", ""]
    for key in ("started", "finished", "device", "seeds", "data_root", "mode", "git_commit"):
        if key in meta:
            parts.append(f"- **{key}**: {meta[key]}")
    for name, spec in (meta.get("detectors") or {}).items():
        parts.append(f"- **detector {name}**: `{json.dumps(spec, sort_keys=True)}`")
    counts = meta.get("counts") or {}
    if counts:
        parts += ["", "Images per class and split:", "", markdown_table(pd.DataFrame(counts).T.fillna(0).astype(int)
                                                                        .rename_axis("class"))]
    versions = meta.get("versions") or {}
    if versions:
        parts += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())]
    return "\n".join(parts) + "\n"


def render_console(rows: list[dict], meta: dict, console: Console) -> None:
    if meta.get("demo"):
        console.print(f"[bold yellow]{DEMO_NOTICE}[/]")
    for detector, metric, table in matrices(rows, metric_columns(rows, meta)):
        rich_table = Table(title=f"{detector}: {_metric_title(metric)}", title_justify="left")
        rich_table.add_column(table.index.name, style="bold")
        for column in table.columns:
            rich_table.add_column(str(column), justify="right")
        for index, row in table.iterrows():
            rich_table.add_row(str(index), *[str(v) for v in row])
        console.print(rich_table)


def load_run(run_dir: str | Path) -> tuple[list[dict], dict]:
    run_dir = Path(run_dir)
    meta_path = run_dir / "meta.json"
    if not meta_path.exists():
        raise BenchmarkError(f"{run_dir} is not a run directory (no meta.json); pass the --output-dir of a run")
    meta = json.loads(meta_path.read_text())
    return read_results(run_dir), meta


def compare(run_dirs: list[str | Path], metric: str) -> pd.DataFrame:
    """One row per (detector, train, test), one column per run: ``metric`` pooled over seeds."""
    columns = {}
    for run_dir in run_dirs:
        rows, meta = load_run(run_dir)
        if not rows:
            continue
        frame = pd.DataFrame(rows)
        if metric not in frame:
            raise BenchmarkError(f"{run_dir}: results have no metric '{metric}' (they have: "
                                 f"{', '.join(metric_columns(rows, meta))})")
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
        label = f"{meta.get('suite', '?')} ({Path(run_dir).name})"
        columns[label] = frame.groupby(["detector", "train", "test"], sort=False)[metric].apply(_fmt)
    if not columns:
        raise BenchmarkError("none of the given run directories holds finished results")
    return pd.DataFrame(columns).fillna("-")

