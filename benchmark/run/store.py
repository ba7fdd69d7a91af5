"""The run store: one run directory, one experiment. It alone writes the run's top-level files.

    <out>/identity.json  the fingerprint the dir is bound to (see benchmark.run.identity)
    <out>/.lock          held (flock) by the one process running in the dir; holds its PID
    <out>/suite.yaml     the resolved suite: `benchmark run <out>/suite.yaml` reruns this run
    <out>/splits.csv     path, class, split, sha256 of every image used
    <out>/audit.json  meta.json  results.jsonl  report.md  run.log

Checks that can refuse a run happen before the first byte is written; the lock is taken before
anything is changed; every file is written atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import traceback
from pathlib import Path

import pandas as pd

from benchmark.data.synthetic import FOLDER
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write, to_json, write_json
from benchmark.run.identity import IDENTITY, changed_files_by_class, compare
from benchmark.run.results import CLEAN, CORRUPT, append_result, cell_dir, read_results, repair_results, train_dir

LOCK = ".lock"
SPLITS = "splits.csv"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class RunStore:
    def __init__(self, out: Path):
        self.out = Path(out)
        self._lock_file = None

    # -- before anything is written --------------------------------------------------------------
    def existing_identity(self) -> dict | None:
        """The identity of the run already in the dir; None for a new or empty dir. A folder that
        is not a run dir (a file, or a folder with other things in it) is refused."""
        if self.out.exists() and not self.out.is_dir():
            raise BenchmarkError(f"--output-dir {self.out} is a file, not a folder; choose another --output-dir")
        if not self.out.is_dir() or not any(p.name not in (LOCK, FOLDER) for p in self.out.iterdir()):
            return None
        path = self.out / IDENTITY
        if not path.is_file():
            older = " (made by an older version of the harness)" if (self.out / "meta.json").exists() else ""
            raise BenchmarkError(f"{self.out} is not empty and is not a run directory{older}; "
                                 f"choose another --output-dir, or empty that folder")
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise BenchmarkError(f"{path} is damaged; this run dir cannot be resumed: choose another --output-dir") from None

    def check_identity(self, identity: dict, table: pd.DataFrame, extend: bool) -> str:
        """"new", "resume" or "extend"; refuses a run that would mix two experiments."""
        old = self.existing_identity()
        if old is None:
            return "new"
        read = []

        def explain(cls: str) -> str:  # reads the old splits.csv only when some data differs
            if not read:
                read.append(self.splits_table())
            return changed_files_by_class(read[0], table)(cls) if read[0] is not None else ""

        differences, additions = compare(old, identity, explain)
        if differences:
            shown = "; ".join(differences[:3]) + (f" (and {len(differences) - 3} more)" if len(differences) > 3 else "")
            raise BenchmarkError(f"{self.out} holds another experiment: {shown}; "
                                 f"choose another --output-dir, or rerun with what the run used ({self.out / 'suite.yaml'})")
        if additions and not extend:
            raise BenchmarkError(f"{self.out} holds a run without {', '.join(additions)}; pass --extend to add "
                                 f"{'these cells' if len(additions) > 1 else 'its cells'} (finished cells stay as they are)")
        return "extend" if additions else "resume"

    def splits_table(self) -> pd.DataFrame | None:
        path = self.out / SPLITS
        if not path.exists():
            return None
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception:  # noqa: BLE001 - a damaged table only loses the detail of the message
            return None

    # -- the lock ---------------------------------------------------------------------------------
    def lock(self) -> None:
        """One process per run dir. A lock whose holder died is free again (flock is released by
        the kernel), so a kill -9 never leaves the dir locked."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / LOCK
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise BenchmarkError(f"{self.out} is in use by another run (PID {holder}); wait for it to finish "
                                 f"or choose another --output-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- writing ----------------------------------------------------------------------------------
    def begin(self, status: str, identity: dict, suite_yaml: str, table: pd.DataFrame, audit: dict,
              meta: dict, mode: str, command: str) -> dict:
        """Write the run's description; returns meta with the first start kept and this start logged."""
        repaired = repair_results(self.out)
        if repaired:
            self.log(f"results.jsonl: moved {repaired} line(s) that were not JSON to {CORRUPT}; their cells run again")
        old_meta = self.read_meta()
        if old_meta and status != "new":
            meta["started"] = old_meta.get("started", _now())
            meta["command"] = old_meta.get("command", command)
            meta["resumes"] = old_meta.get("resumes", []) + [{"at": _now(), "command": command, "mode": mode,
                                                              "kind": status}]
        else:
            meta["started"], meta["command"], meta["resumes"] = _now(), command, []
        # identity first: a run killed while writing these is still this run, and resumes. A resume of
        # the same experiment leaves what describes it as it is (at a million images, rewriting
        # splits.csv costs seconds); a new or extended run writes everything.
        same = status == "resume" and not self.refresh_identity(identity)
        if status != "resume":
            write_json(self.out / IDENTITY, identity)
        if not same or _read(self.out / "suite.yaml") != suite_yaml:
            atomic_write(self.out / "suite.yaml", suite_yaml)
        if not same or not (self.out / SPLITS).is_file():
            atomic_write(self.out / SPLITS, table.to_csv(index=False))
        if not same or not (self.out / "audit.json").is_file():
            write_json(self.out / "audit.json", audit)
        write_json(self.out / "meta.json", meta)
        self.log(f"{ {'new': 'started', 'resume': 'resumed', 'extend': 'extended'}[status]}: {command}")
        return meta

    def refresh_identity(self, identity: dict) -> bool:
        """Rewrite identity.json when this harness records the same experiment differently; True if so."""
        if self.existing_identity() == json.loads(to_json(identity)):
            return False
        write_json(self.out / IDENTITY, identity)
        return True

    def read_meta(self) -> dict | None:
        try:
            return json.loads((self.out / "meta.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def write_meta(self, meta: dict) -> None:
        write_json(self.out / "meta.json", meta)

    def results(self) -> list[dict]:
        return read_results(self.out)

    def append(self, row: dict) -> None:
        append_result(self.out, row)

    def training_dir(self, detector: str, train: str, seed: int) -> Path:
        return train_dir(self.out, detector, train, seed)

    def cell_dir(self, detector: str, train: str, seed: int, test: str, perturbation: str = CLEAN) -> Path:
        return cell_dir(self.out, detector, train, seed, test, perturbation)

    def log(self, message: str, error: BaseException | None = None) -> None:
        """The run-level log: starts, resumes, extensions, and tracebacks of failures."""
        with open(self.out / "run.log", "a") as f:
            f.write(f"{_now()} {message}\n")
            if error is not None:
                f.write("".join(traceback.format_exception(error)))
