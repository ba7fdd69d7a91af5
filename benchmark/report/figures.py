"""Pictures of a study: a train x test heatmap per system and headline metric (one colour scale per
metric across systems, diagonal outlined), and ROC curves overlaid per test set and per training set
with the operating point chosen on validation marked. Files only (Agg backend)."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from benchmark.files import atomic_write  # noqa: E402
from benchmark.perturbations import CLEAN  # noqa: E402
from benchmark.report.curves import epoch_tables, training_figure  # noqa: E402
from benchmark.report.study import Study, cell_order  # noqa: E402

FIGURES = "figures"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@%+-]+", "_", text).strip("_") or "x"


def write_figures(study: Study, out: Path, formats: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """Writes every figure in every format under out/figures; returns section -> [(title, png path
    relative to out)] for the report to reference."""
    folder = out / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[tuple[str, str]]] = {"heatmaps": [], "robustness": [], "roc by test set": [],
                                              "roc by training set": [], "training curves": []}
    trains, tests = cell_order(study)
    for name in study.headline:
        values = study.pooled[name].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        scale = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        for label in study.labels:
            fig = heatmap(study, label, name, trains, tests, scale)
            made["heatmaps"].append((f"{label}: {name}", _save(fig, folder, f"heatmap_{slug(label)}_{name}", formats, out)))
    made["robustness"] = []
    for name in study.headline:
        for label in study.labels if not study.robust.empty else []:
            fig = robustness_figure(study, label, name)
            made["robustness"].append((f"{label}: {name} under degradations",
                                       _save(fig, folder, f"robustness_{slug(label)}_{name}", formats, out)))
    for test in tests:
        fig = roc_figure(study, [(label, train, test) for train in trains for label in study.labels],
                         panels=trains, panel_of=lambda key: key[1], legend_of=lambda key: key[0],
                         title=f"test set {test}: every detector, one panel per training set")
        made["roc by test set"].append((f"test {test}", _save(fig, folder, f"roc_test-{slug(test)}", formats, out)))
    for label in study.labels:
        for train in trains:
            keys = [(label, train, test) for test in tests]
            fig = roc_figure(study, keys, panels=[train], panel_of=lambda key: key[1], legend_of=lambda key: f"test {key[2]}",
                             title=f"{label}: every test set", panel_title=lambda panel: f"{label}, trained on {panel}")
            made["roc by training set"].append((f"{label}, train {train}",
                                                _save(fig, folder, f"roc_{slug(label)}_train-{slug(train)}", formats, out)))
    for system in study.systems:
        tables = epoch_tables(study, system)
        if tables:
            made["training curves"].append((f"{system.label}: training curves", _save(
                training_figure(system, tables), folder, f"training_{slug(system.label)}", formats, out)))
    return made


def draw_roc(ax, labels: np.ndarray, scores: np.ndarray, name: str, threshold: float | None = None) -> float:
    """One ROC curve, its AUC in the legend, and (given a threshold) the operating point as a dot: the
    style of every ROC figure, the per-cell roc_curve.png included. Returns the AUC."""
    fpr, tpr, _ = roc_curve(labels, scores)
    auc = float(roc_auc_score(labels, scores))
    (line,) = ax.plot(fpr, tpr, linewidth=1.2, label=f"{name} (AUC {auc:.3f})")
    if threshold is not None:  # the operating point picked on validation
        chosen = scores >= threshold
        ax.plot(chosen[labels == 0].mean(), chosen[labels == 1].mean(), "o", color=line.get_color(), markersize=5)
    return auc


def roc_axes(ax, log: bool = False, lowest: float = 0.0) -> None:
    ax.plot([lowest, 1] if log else [0, 1], [lowest, 1] if log else [0, 1], ":", color="grey", linewidth=0.8)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lowest / 2, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate" + (" (log)" if log else ""))
    ax.set_ylabel("true positive rate")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")


def heatmap(study: Study, label: str, name: str, trains, tests, scale) -> plt.Figure:
    pooled = study.pooled[study.pooled["system"] == label].set_index(["train", "test"])
    grid = np.full((len(trains), len(tests)), np.nan)
    for (train, test), row in pooled.iterrows():
        grid[trains.index(train), tests.index(test)] = row[name]
    lower = study.lower_is_better(name)
    fig, ax = plt.subplots(figsize=(1.3 * len(tests) + 2.6, 0.9 * len(trains) + 1.8), dpi=100)
    image = ax.imshow(grid, cmap="viridis_r" if lower else "viridis", vmin=scale[0], vmax=scale[1], aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            row = pooled.loc[(trains[i], tests[j])]
            text = f"{value:.3f}"
            if np.isfinite(row[f"{name}_lo"]):
                text += f"\n[{row[f'{name}_lo']:.2f}, {row[f'{name}_hi']:.2f}]"
            shade = (value - scale[0]) / ((scale[1] - scale[0]) or 1)
            dark = shade > 0.5 if lower else shade < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        if trains[i] == tests[j]:  # own manipulation: a frame inside the cell (edge to edge, two diagonal
            # frames outline their neighbours too), and the word, so no colour or shape must be decoded
            ax.add_patch(Rectangle((j - 0.44, i - 0.44), 0.88, 0.88, fill=False, edgecolor="red", linewidth=1.5,
                                   linestyle="--"))
            ax.text(j, i - 0.33, "own", ha="center", va="center", fontsize=7, color="red")
    ax.set_xticks(range(len(tests)), tests, rotation=30, ha="right")
    ax.set_yticks(range(len(trains)), trains)
    ax.set_xlabel("test set")
    ax.set_ylabel("training set")
    ax.set_title(f"{label}: {name} ({'lower' if lower else 'higher'} is better)\nred dashed frame, 'own': "
                 "tested on its training manipulation", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def robustness_figure(study: Study, label: str, name: str) -> plt.Figure:
    """One panel per perturbation kind: the metric (mean over cells, interval shaded) against the
    parameter, severity growing to the right; the clean value as a dashed line."""
    from benchmark import plugins
    from benchmark.report.compare import robustness

    table = robustness(study, name)
    table = table[table["system"] == label]
    kinds = list(dict.fromkeys(table["kind"]))
    registered = {e.name: e.value for e in plugins.collect().perturbations}
    clean = study.pooled[study.pooled["system"] == label][name].mean()
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 3.2), dpi=90, squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        rows = table[table["kind"] == kind].sort_values("param")
        intervals = rows["value_lo"].notna().all()
        errors = [rows["value"] - rows["value_lo"], rows["value_hi"] - rows["value"]] if intervals else None
        ax.errorbar(rows["param"], rows["value"], yerr=errors, fmt="o-", capsize=3, label=kind)
        if intervals and len(rows) > 1:
            ax.fill_between(rows["param"], rows["value_lo"], rows["value_hi"], alpha=0.15)
        ax.axhline(clean, linestyle="--", color="grey", linewidth=1, label="clean")
        if getattr(registered.get(kind), "worse_when", "higher") == "lower":
            ax.invert_xaxis()  # lower quality or scale is more severe: severity grows to the right
        ax.set_xlabel(f"{kind} parameter")
        ax.set_title(kind, fontsize=9)
    axes[0, 0].set_ylabel(f"{name} (mean over cells)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{label}: {name} under test-time degradations", fontsize=9)
    fig.tight_layout()
    return fig


def roc_figure(study: Study, keys, panels, panel_of, legend_of, title: str, panel_title=None) -> plt.Figure:
    """ROC curves of the given (system, train, test) cells, every seed, grouped into panels."""
    log = study.config.roc_scale == "log"
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), dpi=90, squeeze=False)
    lowest = 1.0
    for key in keys:
        tables = study.predictions.get(key)
        if not tables:
            continue
        ax = axes[0, panels.index(panel_of(key))]
        seeds = study.cells[(study.cells["system"] == key[0]) & (study.cells["train"] == key[1]) &
                            (study.cells["test"] == key[2]) & (study.cells["perturbation"] == CLEAN)]
        for table, (_, cell) in zip(tables, seeds.iterrows()):
            labels, scores = table["label"].to_numpy(), table["score"].to_numpy()
            if len(np.unique(labels)) < 2:
                continue
            lowest = min(lowest, 1.0 / max(1, int((labels == 0).sum())))
            seed = f", seed {cell['seed']}" if len(tables) > 1 else ""
            draw_roc(ax, labels, scores, f"{legend_of(key)}{seed}", cell["threshold"])
    for ax, panel in zip(axes[0], panels):
        roc_axes(ax, log, lowest)
        ax.set_title(textwrap.fill(panel_title(panel) if panel_title else f"trained on {panel}", 48), fontsize=9)
    # wrapped to the figure's width: a long title is never cut at both edges
    fig.suptitle(textwrap.fill(title + "; dots: threshold chosen on validation", 60 * len(panels)), fontsize=9)
    fig.tight_layout()
    return fig


def _save(fig: plt.Figure, folder: Path, stem: str, formats, out: Path) -> str:
    try:
        for fmt in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt)
            atomic_write(folder / f"{stem}.{fmt}", buffer.getvalue())
    finally:
        plt.close(fig)
    return f"{FIGURES}/{stem}.{formats[0]}" if "png" not in formats else f"{FIGURES}/{stem}.png"
