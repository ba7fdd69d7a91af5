"""Where a run's time goes: seconds per phase, the process's age and memory at marks, for run.log.

``benchmark perf --scale`` reads these lines; a user reads them to see what a start costs
(``phases {"list_s": 0.8, "facts_s": 1.9, ...}``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time


def process_age() -> float | None:
    """Seconds since this process started (imports included); None off Linux."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_mb() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None


class Phases:
    def __init__(self):
        self.figures: dict[str, float | int | None] = {}
        self.mark("init")

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.figures[f"{name}_s"] = round(self.figures.get(f"{name}_s", 0) + time.perf_counter() - start, 3)

    def mark(self, name: str) -> None:
        """The process's age and RSS now (e.g. when training is about to begin)."""
        age = process_age()
        self.figures[f"{name}_at_s"] = round(age, 2) if age is not None else None
        self.figures[f"{name}_rss_mb"] = rss_mb()

    def line(self) -> str:
        return "phases " + json.dumps(self.figures)
