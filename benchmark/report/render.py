"""Rows of results.jsonl -> train x test matrices, rendered as Markdown and as rich tables from the
same formatted strings, so the console and report.md always show the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmark.errors import BenchmarkError
from benchmark.run.results import read_results_checked

DEMO_NOTICE = (
    "SMOKE DEMO: synthetic cartoon faces (and a randomly initialised CLIP backbone). "
    "These numbers show what the harness measures; they mean nothing about deepfake detection."
)
NOT_METRICS = {"detector", "train", "test", "seed", "n_real", "n_fake", "n_real_videos", "n_fake_videos",
               "threshold", "selected_epoch", "val_auc", "oracle_epoch"}


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
    return [k for k in rows[0] if k not in NOT_METRICS] if rows else []


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


def cells_table(rows: list[dict], metrics: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(detector, one row per train -> test cell, one column per metric; seeds pooled)."""
    frame = pd.DataFrame(rows)
    out = []
    for detector, group in frame.groupby("detector", sort=False):
        table = pd.DataFrame({
            metric: group.groupby(["train", "test"], sort=False)[metric].apply(
                lambda v: _fmt(pd.to_numeric(v, errors="coerce")))
            for metric in metrics if metric in group
        })
        out.append((detector, table))
    return out


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        lines.append("| " + " | ".join([str(index)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def _metric_title(metric: str, meta: dict) -> str:
    """Direction comes from each Metric plugin's higher_is_better, recorded in meta.json."""
    if metric == "oracle_auc":
        return "ORACLE AUC: best epoch picked on the test set, as DeepfakeBench reports; optimistic, not an estimate"
    direction = "lower is better" if metric in meta.get("lower_is_better", ()) else "higher is better"
    level = "video-level " if metric.startswith("video_") else ""
    name = metric.removeprefix("video_")
    return f"{level}{name.upper() if len(name) <= 3 else name} ({direction})"


def render_markdown(rows: list[dict], meta: dict, audit: dict | None = None) -> str:
    metrics = metric_columns(rows, meta)
    parts = [f"# Benchmark report: {meta.get('suite', '?')}", ""]
    if meta.get("demo"):
        parts += [f"> **{DEMO_NOTICE}**", ""]
    selection = meta.get("selection") or {}
    epoch = {"best": "the epoch with the best AUC", "last": "the last epoch"}.get(selection.get("epoch"), "?")
    threshold = selection.get("threshold")
    threshold = ("chosen on validation (max. TPR - FPR)" if threshold == "val" else f"fixed at {threshold}")
    parts += [
        "Rows are training sets (real + that manipulation), columns are test sets (real + that "
        "manipulation, from the held-out test split). Fake is the positive class. Each training run keeps "
        f"{epoch} on its own domain's validation split; the threshold for F1 and accuracy is "
        f"{threshold}; `@0.5` columns use 0.5. Video-level metrics average frame scores per video. "
        "Nothing is selected on test data.",
        "",
    ]
    summary = generalization_line(rows) if rows else None
    if summary:
        parts += [f"**{summary[0].upper() + summary[1:]}.**", ""]
    if not rows:
        parts += ["No finished cells yet.", ""]
    side = side_by_side(rows, "auc") if rows else None
    if side is not None:
        parts += ["## AUC, detectors side by side", "", markdown_table(side), ""]
    for detector, table in cells_table(rows, metrics) if rows else []:
        table.index = [f"{train} -> {test}" for train, test in table.index]
        table.index.name = "train -> test"
        parts += [f"## {detector}: all cells", "", markdown_table(table), ""]
    for detector, metric, table in matrices(rows, metrics) if rows else []:
        parts += [f"## {detector}: {_metric_title(metric, meta)}", "", markdown_table(table), ""]
    warnings = shortcut_warnings(rows, meta) if rows else []
    if warnings:
        parts += ["## Shortcut check", "", f"`shortcut-probe` sees only file and low-level facts, never a face. "
                  f"Where a detector does not beat it by {SHORTCUT_MARGIN} AUC, that detector's number may "
                  "say nothing about faces:", ""] + [f"- **warning**: {w}" for w in warnings] + [""]
    parts += audit_markdown(audit) if audit else []
    parts += ["## Run facts", ""]
    for key in ("started", "finished", "device", "seeds", "data_root", "layout", "splits", "frames_per_video",
                "mode", "git_commit"):
        if key in meta:
            parts.append(f"- **{key}**: {meta[key]}")
    for name, spec in (meta.get("detectors") or {}).items():
        parts.append(f"- **detector {name}**: `{json.dumps(spec, sort_keys=True)}`")
    versions = meta.get("versions") or {}
    if versions:
        parts += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())]
    return "\n".join(parts) + "\n"


SHORTCUT_PROBE = "shortcut-probe"
SHORTCUT_MARGIN = 0.05


def shortcut_warnings(rows: list[dict], meta: dict) -> list[str]:
    """Cells where a detector's AUC (mean over seeds) is not above the shortcut probe's + margin."""
    probes = {name for name, spec in (meta.get("detectors") or {}).items()
              if spec.get("use", name) == SHORTCUT_PROBE}
    if not probes:
        return []
    frame = pd.DataFrame(rows)
    if "auc" not in frame:
        return []
    auc = frame.assign(auc=pd.to_numeric(frame["auc"], errors="coerce")).groupby(
        ["detector", "train", "test"], sort=False)["auc"].mean()
    warnings = []
    for (detector, train, test), value in auc.items():
        if detector in probes:
            continue
        for probe in probes:
            baseline = auc.get((probe, train, test))
            if baseline is not None and value < baseline + SHORTCUT_MARGIN:
                warnings.append(f"{detector} on {train} -> {test}: AUC {value:.3f} does not beat {probe} "
                                f"({baseline:.3f}) by {SHORTCUT_MARGIN}")
    return warnings


def side_by_side(rows: list[dict], metric: str) -> pd.DataFrame | None:
    """One row per train -> test cell, one column per detector (seeds pooled); None for one detector."""
    frame = pd.DataFrame(rows)
    if metric not in frame or frame["detector"].nunique() < 2:
        return None
    frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    table = frame.groupby(["train", "test", "detector"], sort=False)[metric].apply(_fmt).unstack("detector")
    table = table[list(dict.fromkeys(frame["detector"]))].fillna("-")
    table.index = [f"{train} -> {test}" for train, test in table.index]
    table.index.name = "train -> test"
    return table


def generalization_line(rows: list[dict]) -> str | None:
    """Per detector, mean AUC on its own manipulation (train = test) vs on the others, in one line."""
    frame = pd.DataFrame(rows)
    if "auc" not in frame:
        return None
    frame["auc"] = pd.to_numeric(frame["auc"], errors="coerce")
    frame["domain"] = np.where(frame["train"] == frame["test"], "in", "cross")
    means = frame.groupby(["detector", "domain"], sort=False)["auc"].mean().unstack()
    if not {"in", "cross"} <= set(means.columns):
        return None
    parts = [f"{detector} {row['in']:.2f} vs {row['cross']:.2f}" for detector, row in means.iterrows()]
    return "mean AUC, own manipulation vs unseen ones: " + "; ".join(parts)


def render_console(rows: list[dict], meta: dict, console: Console) -> None:
    """One table per detector, a row per cell: the same formatted numbers as report.md."""
    if meta.get("demo"):
        console.print(f"[bold yellow]{DEMO_NOTICE}[/]")
    # the headline metrics fit a terminal; report.md has every column
    metrics = [m for m in metric_columns(rows, meta) if "@" not in m and (not m.startswith("video_") or m == "video_auc")]
    for detector, table in cells_table(rows, metrics):
        lower = [m for m in metrics if m in meta.get("lower_is_better", ())]
        direction = f"{', '.join(lower)}: lower is better; others: higher" if lower else "higher is better"
        rich_table = Table(title=f"{detector} ({direction})", title_justify="left")
        rich_table.add_column("train", style="bold")
        rich_table.add_column("test", style="bold")
        for column in table.columns:
            rich_table.add_column(str(column), justify="right")
        for (train, test), row in table.iterrows():
            rich_table.add_row(train, test, *[str(v) for v in row])
        console.print(rich_table)
    for warning in shortcut_warnings(rows, meta):
        console.print(f"[yellow]shortcut warning:[/] {warning}", highlight=False)
    summary = generalization_line(rows)
    if summary:
        console.print(f"[bold]{summary}[/]", highlight=False)


def audit_markdown(audit: dict) -> list[str]:
    lines = ["## Leakage and shortcut audit", ""]
    lines += [f"- **warning**: {w}" for w in audit["warnings"]] or ["- no warnings"]
    lines += ["", "| train | test | videos in both train and test | train real / fake | test real / fake |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['train']} | {c['test']} | {c['shared_units']} | {c['train_real']} / {c['train_fake']} | "
              f"{c['test_real']} / {c['test_fake']} |" for c in audit["cells"]]
    lines += ["", "Images and videos per class and split:", "",
              markdown_table(pd.DataFrame(audit["counts"]).T.rename_axis("class"))]
    unreadable = audit.get("unreadable") or []
    if unreadable:
        lines += ["", f"Unreadable images skipped: {len(unreadable)}", ""]
        lines += [f"- `{b['path']}` ({b['class']}, {b['split']}): {b['problem']}" for b in unreadable[:20]]
        lines += [f"- ... and {len(unreadable) - 20} more (all in audit.json)"] if len(unreadable) > 20 else []
    conflicts = audit.get("conflicting_labels") or []
    if conflicts:
        lines += ["", f"Images under both a real and a fake class (conflicting labels): {len(conflicts)}", ""]
        lines += ["- " + " = ".join(f"`{c['path']}` ({c['class']})" for c in group) for group in conflicts[:20]]
    lines += ["", f"Byte-identical files across splits: {len(audit['duplicates'])}", "",
              "| class | formats | width min/median/max | height min/median/max | format sep. | size sep. |",
              "|---|---|---|---|---|---|"]
    for cls, info in audit["classes"].items():
        formats = ", ".join(f"{k} {v}" for k, v in info["formats"].items())
        sep = [f"{info[k]:.2f}" if k in info else "-" for k in ("format_separability", "size_separability")]
        lines.append(f"| {cls} | {formats} | {'/'.join(map(str, info['width']))} | "
                     f"{'/'.join(map(str, info['height']))} | {sep[0]} | {sep[1]} |")
    return lines + [""]


def load_run(run_dir: str | Path) -> tuple[list[dict], dict, list[str]]:
    """(rows, meta, problems with results.jsonl)."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "meta.json"
    if not meta_path.exists():
        raise BenchmarkError(f"{run_dir} is not a run directory (no meta.json); pass the --output-dir of a run")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        raise BenchmarkError(f"{meta_path} is damaged (not JSON)") from None
    rows, problems = read_results_checked(run_dir)
    return rows, meta, problems


def rebuild_report(run_dir: str | Path) -> tuple[list[dict], dict, str, list[str]]:
    """A report from the run directory alone: results.jsonl, meta.json and audit.json."""
    rows, meta, problems = load_run(run_dir)
    audit_path = Path(run_dir) / "audit.json"
    audit = json.loads(audit_path.read_text()) if audit_path.exists() else None
    return rows, meta, render_markdown(rows, meta, audit), problems


def compare(run_dirs: list[str | Path], metric: str) -> pd.DataFrame:
    """One row per (detector, train, test), one column per run: ``metric`` pooled over seeds."""
    columns = {}
    for run_dir in run_dirs:
        rows, meta, _ = load_run(run_dir)
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

