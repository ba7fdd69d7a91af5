"""Files for papers and notebooks: a tidy results.csv and LaTeX (booktabs) tables, via pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.files import atomic_write
from benchmark.report.study import Study

RESULTS_CSV = "results.csv"


def tidy(study: Study) -> pd.DataFrame:
    """One row per system x train x test x seed: every metric with its interval, sizes, epoch, threshold."""
    return study.cells.drop(columns=["test_digest"], errors="ignore")


def write_csv(study: Study, out: Path) -> str:
    atomic_write(out / RESULTS_CSV, tidy(study).to_csv(index=False, float_format="%.9g"))
    return RESULTS_CSV


def write_latex(tables: dict[str, tuple[pd.DataFrame, str]], out: Path) -> list[str]:
    """``stem -> (table of formatted strings, caption)`` -> ``stem.tex`` each (booktabs rules)."""
    written = []
    for stem, (table, caption) in tables.items():
        latex = table.to_latex(escape=True, caption=caption, label=f"tab:{stem}", column_format=None)
        atomic_write(out / f"{stem}.tex", latex)
        written.append(f"{stem}.tex")
    return written
