"""A study -> report.md and the console, from the same formatted strings, so both always show the
same numbers. Opens with the leaderboard; then paired differences, pictures, matrices, every cell."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.perturbations import CLEAN
from benchmark.report.compare import leaderboard, paired, robustness
from benchmark.report.study import Study, cell_order

DEMO_NOTICE = (
    "SMOKE DEMO: synthetic cartoon faces (and a randomly initialised CLIP backbone). "
    "These numbers show what the harness measures; they mean nothing about deepfake detection."
)
SHORTCUT_PROBE = "shortcut-probe"
SHORTCUT_MARGIN = 0.05
MAX_PAIRS = 6  # beyond this many pairs of systems, each is compared with the first only


def fmt(value, low=np.nan, high=np.nan, sd=np.nan, n: int = 1) -> str:
    """``0.912 [0.871, 0.947]``; several seeds: ``0.910 ± 0.020 (n=3) [0.871, 0.947]``."""
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{value:.3f}" + (f" ± {sd:.3f} (n={n})" if n > 1 and np.isfinite(sd) else "")
    return text + (f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else "")


def fmt_cell(row: pd.Series, name: str) -> str:
    return fmt(row.get(name), row.get(f"{name}_lo", np.nan), row.get(f"{name}_hi", np.nan),
               row.get(f"{name}_sd", np.nan), int(row.get("seeds", 1)))


def title(study: Study, name: str) -> str:
    if name == "oracle_auc":
        return "ORACLE AUC: best epoch picked on the test set, as DeepfakeBench reports; optimistic, not an estimate"
    level = "video-level " if name.startswith("video_") else ""
    base = name.removeprefix("video_")
    direction = "lower is better" if study.lower_is_better(name) else "higher is better"
    return f"{level}{base.upper() if len(base) <= 3 else base} ({direction})"


# -- tables (formatted strings) ---------------------------------------------------------------------
def leaderboard_table(study: Study, name: str) -> pd.DataFrame:
    board = leaderboard(study, name)
    table = pd.DataFrame({
        "in-domain (mean)": [fmt(r["in"], r["in_lo"], r["in_hi"]) for _, r in board.iterrows()],
        "cross-domain (mean)": [fmt(r["cross"], r["cross_lo"], r["cross_hi"]) for _, r in board.iterrows()],
        "gap (in - cross)": [fmt(r["gap"], r["gap_lo"], r["gap_hi"]) for _, r in board.iterrows()],
        "worst cross-domain cell": [r["worst_cell"] if isinstance(r.get("worst_cell"), str) else "n/a"
                                    for _, r in board.iterrows()],
        "its value": [fmt(r["worst"], r["worst_lo"], r["worst_hi"]) if isinstance(r.get("worst_cell"), str) else "n/a"
                      for _, r in board.iterrows()],
    }, index=board.index)
    table.index.name = "detector"
    return table


def matrix_table(study: Study, label: str, name: str) -> pd.DataFrame:
    """train x test, the diagonal in bold, and a row mean over the cross-domain cells."""
    trains, tests = cell_order(study)
    pooled = study.pooled[study.pooled["system"] == label].set_index(["train", "test"])
    table = pd.DataFrame("", index=trains, columns=tests)
    for (train, test), row in pooled.iterrows():
        text = fmt_cell(row, name)
        table.loc[train, test] = f"**{text}**" if train == test else text
    means = []
    for train in trains:
        cross = [row[name] for (t, s), row in pooled.iterrows() if t == train and s != train]
        means.append(fmt(float(np.nanmean(cross))) if cross and np.isfinite(cross).any() else "-")
    table["mean cross-domain"] = means
    table = table.loc[[t for t in trains if t in pooled.index.get_level_values(0)]]
    table.index.name = "train \\ test"
    return table


def cells_table(study: Study, label: str, names: list[str]) -> pd.DataFrame:
    pooled = study.pooled[study.pooled["system"] == label]
    table = pd.DataFrame({f"{name} ({'lower' if study.lower_is_better(name) else 'higher'} is better)":
                          [fmt_cell(r, name) for _, r in pooled.iterrows()] for name in names})
    table.insert(0, "test size real / fake (videos)", [
        f"{r['n_real']} / {r['n_fake']} ({r['n_real_videos']} / {r['n_fake_videos']})"
        + (" imbalanced" if r["imbalanced"] else "") for _, r in pooled.iterrows()])
    table.index = [f"{r['train']} -> {r['test']}" for _, r in pooled.iterrows()]
    table.index.name = "train -> test"
    # what was selected on val for each cell, per seed: the epoch kept and the threshold
    cells = study.cells[(study.cells["system"] == label) & (study.cells["perturbation"] == CLEAN)]
    chosen = {key: group for key, group in cells.groupby(["train", "test"], sort=False)}
    table["selected epoch"] = [", ".join(_epoch(e) for e in chosen[r["train"], r["test"]]["selected_epoch"])
                               for _, r in pooled.iterrows()]
    table["threshold"] = [", ".join(f"{t:.3f}" for t in chosen[r["train"], r["test"]]["threshold"])
                          for _, r in pooled.iterrows()]
    return table


def _epoch(value) -> str:
    return "-" if value is None or (isinstance(value, float) and not np.isfinite(value)) else str(int(value))


def pairs(study: Study) -> list[tuple[str, str]]:
    """Which systems to compare: the same detector across runs; else every pair (or each vs the first)."""
    systems = study.systems
    same = [(a.label, b.label) for i, a in enumerate(systems) for b in systems[i + 1:]
            if a.detector == b.detector and a.run is not b.run]
    if same:
        return same
    every = [(a.label, b.label) for i, a in enumerate(systems) for b in systems[i + 1:]]
    return every if len(every) <= MAX_PAIRS else [(systems[0].label, s.label) for s in systems[1:]]


def paired_table(study: Study, a: str, b: str, name: str) -> pd.DataFrame | None:
    frame = paired(study, a, b, name)
    if frame.empty:
        return None
    table = pd.DataFrame({
        f"{a} - {b}": [fmt(r["diff"]) for _, r in frame.iterrows()],
        "paired interval": [f"[{r['diff_lo']:.3f}, {r['diff_hi']:.3f}]" if np.isfinite(r["diff_lo"]) else
                            ("n/a (different test images)" if not r["paired"] else "n/a")
                            for _, r in frame.iterrows()],
        "excludes 0": ["*" if r["excludes_0"] else "" for _, r in frame.iterrows()],
    }, index=frame["cell"])
    if "delong_p" in frame:
        table["DeLong p"] = [f"{p:.3g}" if isinstance(p, float) and np.isfinite(p) else "" for p in frame["delong_p"]]
    table.index.name = "cell"
    return table


def robustness_table(study: Study, label: str, name: str) -> pd.DataFrame | None:
    frame = robustness(study, name)
    frame = frame[frame["system"] == label] if not frame.empty else frame
    if frame.empty:
        return None
    table = pd.DataFrame({
        name: [fmt(r["value"], r["value_lo"], r["value_hi"]) for _, r in frame.iterrows()],
        "drop from clean": [fmt(r["drop"], r["drop_lo"], r["drop_hi"]) for _, r in frame.iterrows()],
        "cells": frame["cells"].tolist(),
    }, index=frame["perturbation"])
    table.index.name = "perturbation"
    return table


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        lines.append("| " + " | ".join([str(index)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


# -- report.md ---------------------------------------------------------------------------------------
def render_markdown(study: Study, notes: list[str], figures: dict, exports: list[str], audit: dict | None = None) -> str:
    meta = study.systems[0].run.meta
    names = [c.name for c in study.columns] + [p for p in ("oracle_auc",) if p in study.pooled]
    suites = list(dict.fromkeys(s.run.meta.get("suite", "?") for s in study.systems))
    parts = [f"# Benchmark report: {', '.join(suites)}", ""]
    if any(s.run.meta.get("demo") for s in study.systems):
        parts += [f"> **{DEMO_NOTICE}**", ""]
    parts += [intro(study, meta), ""]
    parts += [f"- **note**: {n}" for n in notes] + ([""] if notes else [])
    for name in study.headline:
        parts += [f"## Leaderboard: {title(study, name)}", "", markdown_table(leaderboard_table(study, name)), ""]
    summary = summary_line(study)
    if summary:
        parts += [f"**{summary}**", ""]
    for name in study.headline if not study.robust.empty else []:
        parts += [f"## Robustness: {title(study, name)}", "",
                  "Test images degraded at test time (training stays clean); the mean over the cells scored "
                  "both ways, and the drop from clean (positive = worse), paired over the same resampled videos.", ""]
        for label in study.labels:
            table = robustness_table(study, label, name)
            if table is not None:
                parts += [f"**{label}**", "", markdown_table(table), ""]
    for section, items in figures.items():
        if items:
            parts += [f"## Figures: {section}", ""] + [f"![{t}]({p})" for t, p in items] + [""]
    for label in study.labels:
        for name in study.headline + [p for p in ("oracle_auc",) if p in study.pooled]:
            parts += [f"## {label}: {title(study, name)}", "", markdown_table(matrix_table(study, label, name)), ""]
        parts += [f"## {label}: all cells", "", markdown_table(cells_table(study, label, names)), ""]
    for a, b in pairs(study):  # after every matrix: a reader meets the numbers before their differences
        for name in study.headline:
            table = paired_table(study, a, b, name)
            if table is not None:
                parts += [f"## Paired difference: {a} - {b}, {title(study, name)}", "",
                          "`*`: the paired interval excludes 0. DeLong's test is given for AUC on videos "
                          "(on images where there are no videos).", "", markdown_table(table), ""]
    warnings = shortcut_warnings(study)
    if warnings:
        parts += ["## Shortcut check", "", f"`shortcut-probe` sees only file and low-level facts, never a face. "
                  f"Where a detector does not beat it by {SHORTCUT_MARGIN} AUC, that detector's number may "
                  "say nothing about faces:", ""] + [f"- **warning**: {w}" for w in warnings] + [""]
    parts += audit_markdown(audit) if audit else []
    parts += run_facts(study)
    if exports:
        parts += ["", "Exports: " + ", ".join(f"[{e}]({e})" for e in exports)]
    return "\n".join(parts) + "\n"


def intro(study: Study, meta: dict) -> str:
    selection = meta.get("selection") or {}
    epoch = {"best": "the epoch with the best AUC", "last": "the last epoch"}.get(selection.get("epoch"), "?")
    threshold = selection.get("threshold")
    threshold = "chosen on validation (max. TPR - FPR)" if threshold == "val" else f"fixed at {threshold}"
    config = study.config
    scores = sorted({s.run.video_score for s in study.systems})
    stats = (f"Intervals are {config.confidence:.0%} bootstrap percentile intervals over {config.bootstrap} "
             f"resamples of the test videos (images where there are no videos), stratified by class, seed "
             f"{config.bootstrap_seed}; with several seeds a cell shows mean ± sd (n seeds) and the interval of "
             "the seed mean. Differences are paired: both detectors see the same resamples." if config.bootstrap
             else "No intervals: report.bootstrap is 0.")
    return ("Rows are training sets (real + that manipulation), columns are test sets (real + that manipulation, "
            f"from the held-out test split); **bold** cells are a detector's own manipulation. Fake is the positive "
            f"class. Each training run keeps {epoch} on its own domain's validation split; the threshold for "
            f"thresholded metrics is {threshold}; `@0.5` columns use 0.5. Video-level metrics take the "
            f"{' / '.join(scores)} of each video's frame scores. Nothing is selected on test data. " + stats)


def summary_line(study: Study) -> str | None:
    name = study.headline[0]
    board = leaderboard(study, name)
    if board["in"].isna().all() or board["cross"].isna().all():
        return None
    parts = [f"{label} {r['in']:.2f} vs {r['cross']:.2f}" for label, r in board.iterrows()]
    shown = name.upper() if len(name) <= 3 else name
    return f"Mean {shown}, own manipulation vs unseen ones: " + "; ".join(parts) + "."


def shortcut_warnings(study: Study) -> list[str]:
    """Cells where a detector's AUC (mean over seeds) is not above the shortcut probe's + margin."""
    probes = [s.label for s in study.systems
              if ((s.run.meta.get("detectors") or {}).get(s.detector) or {}).get("use", s.detector) == SHORTCUT_PROBE]
    if not probes or "auc" not in study.pooled:
        return []
    auc = study.pooled.set_index(["system", "train", "test"])["auc"]
    warnings = []
    for (label, train, test), value in auc.items():
        for probe in (p for p in probes if label not in probes):
            baseline = auc.get((probe, train, test))
            if baseline is not None and _probe_is_good(study, probe, train, test) and value < baseline + SHORTCUT_MARGIN:
                warnings.append(f"{label} on {train} -> {test}: AUC {value:.3f} does not beat {probe} "
                                f"({baseline:.3f}) by {SHORTCUT_MARGIN}")
    return warnings


def _probe_is_good(study: Study, probe: str, train: str, test: str) -> bool:
    """The warning is about a probe that separates the classes: its AUC interval above chance (without
    intervals: an AUC of at least 0.5 + 2 margins). A detector at chance beside a probe at chance is no shortcut."""
    row = study.pooled[(study.pooled["system"] == probe) & (study.pooled["train"] == train) &
                       (study.pooled["test"] == test)].iloc[0]
    low = row.get("auc_lo", np.nan)
    return bool(low > 0.5) if np.isfinite(low) else bool(row["auc"] >= 0.5 + 2 * SHORTCUT_MARGIN)


def run_facts(study: Study) -> list[str]:
    lines = ["## Run facts", ""]
    for run in dict.fromkeys(s.run for s in study.systems):
        meta = run.meta
        if len(study.systems) > 1 and len({id(s.run) for s in study.systems}) > 1:
            lines += [f"### {run.path}", ""]
        for key in ("started", "finished", "device", "seeds", "data_root", "layout", "splits", "frames_per_video",
                    "video_score", "mode", "git_commit"):
            if key in meta:
                lines.append(f"- **{key}**: {meta[key]}")
        for name, spec in (meta.get("detectors") or {}).items():
            lines.append(f"- **detector {name}**: `{json.dumps(spec, sort_keys=True)}`")
        lines += pseudo_fake_facts(meta.get("generators") or {})
        versions = meta.get("versions") or {}
        if versions:
            lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    return lines


def pseudo_fake_facts(generators: dict) -> list[str]:
    """Training sets made of pseudo-fakes: their recipe, how many real images each blended, examples."""
    if not generators:
        return []
    lines = ["", "### Pseudo-fakes", "",
             "A generator's row trains on its real train images plus pseudo-fakes made from them (selection on real "
             "val images plus pseudo-fakes of those); no test image is ever blended. Every pseudo-fake and its "
             "source: generated.csv.", ""]
    for name, info in generators.items():
        counts = "; ".join(f"{split}: {info[split]['blended']} of {info[split]['real']} real images blended"
                           for split in ("train", "val") if split in info)
        options = json.dumps(info.get("options") or {}, sort_keys=True)
        lines.append(f"- **{name}**: `{info.get('use')}` v{info.get('version')} {options}, {info.get('per_image')} "
                     f"fixed blend(s) per image for frozen-feature detectors, fresh blends every epoch for pixel "
                     f"detectors; {counts}" + (f"; examples: [{info['figure']}]({info['figure']})" if info.get("figure")
                                                else ""))
    return lines


def audit_markdown(audit: dict) -> list[str]:
    lines = ["## Leakage and shortcut audit", ""]
    lines += [f"- **warning**: {w}" for w in audit["warnings"]] or ["- no warnings"]
    lines += ["", "| train | test | videos in both train and test | train real / fake | test real / fake |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['train']} | {c['test']} | {c['shared_units']} | {c['train_real']} / {c['train_fake']}"
              + (f" (pseudo-fakes of {c['train_blended']} real images; {c['train_not_blended']} not blended)"
                 if "train_blended" in c else "") + f" | {c['test_real']} / {c['test_fake']} |" for c in audit["cells"]]
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


# -- console -----------------------------------------------------------------------------------------
def render_console(study: Study, notes: list[str], console: Console) -> None:
    """The leaderboard, each system's headline cells and the paired differences: as in report.md."""
    if any(s.run.meta.get("demo") for s in study.systems):
        console.print(f"[bold yellow]{DEMO_NOTICE}[/]")
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for label in study.labels:
        _print(console, cells_table(study, label, study.headline), f"{label}", "train -> test")
    for a, b in pairs(study):
        table = paired_table(study, a, b, study.headline[0])
        if table is not None:
            _print(console, table, f"paired difference {a} - {b}, {title(study, study.headline[0])}", "cell")
    for label in study.labels if not study.robust.empty else []:
        table = robustness_table(study, label, study.headline[0])
        if table is not None:
            _print(console, table, f"{label}: robustness, {title(study, study.headline[0])}", "perturbation")
    for name in study.headline:
        _print(console, leaderboard_table(study, name), f"Leaderboard: {title(study, name)}", "detector")
    for warning in shortcut_warnings(study):
        console.print(f"[yellow]shortcut warning:[/] {escape(warning)}", highlight=False)
    summary = summary_line(study)
    if summary:
        console.print(f"[bold]{summary}[/]", highlight=False)


def _print(console: Console, table: pd.DataFrame, heading: str, index: str) -> None:
    rich_table = Table(title=heading, title_justify="left")
    rich_table.add_column(index, style="bold")
    for column in table.columns:
        rich_table.add_column(str(column), justify="right")
    for key, row in table.iterrows():
        rich_table.add_row(str(key), *[str(v) for v in row])
    console.print(rich_table)
