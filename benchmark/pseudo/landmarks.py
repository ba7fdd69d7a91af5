"""The 68 landmarks of every real image a generator blends: from `prepare --landmarks` output when
the image is a prepared frame, else found once (dlib HOG face detector + 68-point predictor) and
remembered by content digest in ``<cache dir>/landmarks.sqlite3``, so an image is searched once
for all runs and suites, whatever its path. An image where no face is found is remembered too (as
no landmarks): it is not blended, and the audit lists it.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmark.data.images import load_rgb
from benchmark.errors import BenchmarkError
from benchmark.prepare.landmarks import folder_landmarks

MEMO = "landmarks.sqlite3"
DETECT_SIZE = 320  # faces are searched at this size (3x faster than 600 px, the same faces here), marked at full size
TOOL = f"dlib-hog@{DETECT_SIZE}+shape_predictor_68-v1"  # part of each remembered row: another tool is a miss
_SCHEMA = "CREATE TABLE IF NOT EXISTS landmarks (digest TEXT, tool TEXT, points BLOB, PRIMARY KEY (digest, tool))"

_TOOLS = {}  # per process: the detector and predictor, loaded once


def detect(path: str) -> np.ndarray | None:
    """(68, 2) float32 landmarks of the largest face in the image file, or None."""
    if not _TOOLS:
        from benchmark.prepare.faces import make_finder
        from benchmark.prepare.landmarks import Landmarks68

        _TOOLS["finder"], _TOOLS["marks"] = make_finder("hog", DETECT_SIZE), Landmarks68()
    from benchmark.prepare.faces import largest

    rgb = np.asarray(load_rgb(path))
    box = largest(_TOOLS["finder"](rgb))
    return None if box is None else _TOOLS["marks"](rgb, box).astype(np.float32)


def prepared(paths: list[str]) -> dict[str, np.ndarray]:
    """path -> landmarks for the paths that are frames `prepare --landmarks` wrote (one read per folder)."""
    by_folder = defaultdict(list)
    for path in paths:
        by_folder[str(Path(path).parent)].append(path)
    found = {}
    for folder, members in by_folder.items():
        marks = folder_landmarks(Path(folder))
        found.update({p: marks[Path(p).name] for p in members if Path(p).name in marks})
    return found


class LandmarkMemo:
    """digest -> landmarks (or None: no face) found before, in ``root`` (None: this process only)."""

    def __init__(self, root: Path | None):
        self.path = Path(root) / MEMO if root else None

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60)
            db.execute(_SCHEMA)
            return db
        except (OSError, sqlite3.Error) as e:
            raise BenchmarkError(f"cannot use the landmark memo {self.path}: {e}; check the cache dir's permissions, "
                                 "or pass another --cache-dir (or --no-cache)") from None

    def get(self, digests: list[str]) -> dict[str, np.ndarray | None]:
        db = self._connect()
        if db is None:
            return {}
        try:
            found = {}
            wanted = list(dict.fromkeys(digests))
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                rows = db.execute(f"SELECT digest, points FROM landmarks WHERE tool = ? AND digest IN "
                                  f"({','.join('?' * len(part))})", (TOOL, *part))
                found.update((d, None if b is None else np.frombuffer(b, np.float32).reshape(-1, 2).copy())
                             for d, b in rows)
            return found
        finally:
            db.close()

    def put(self, rows: dict[str, np.ndarray | None]) -> None:
        db = self._connect()
        if db is None or not rows:
            return
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO landmarks VALUES (?, ?, ?)",
                               [(d, TOOL, None if p is None else np.asarray(p, np.float32).tobytes())
                                for d, p in rows.items()])
        except sqlite3.Error:
            pass  # a locked or full memo only costs searching again
        finally:
            db.close()


def find_landmarks(paths: list[str], digest_of, cache_dir: Path | None, workers: int, progress=None
                   ) -> dict[str, np.ndarray | None]:
    """path -> (68, 2) landmarks or None (no face) for every path: prepared ones read, remembered
    ones looked up, the rest searched in ``workers`` processes (inline with 0) and remembered."""
    paths = list(dict.fromkeys(paths))
    found: dict[str, np.ndarray | None] = dict(prepared(paths))
    rest = [p for p in paths if p not in found]
    if not rest:
        return found
    memo = LandmarkMemo(cache_dir)
    digests = {p: digest_of(p) for p in rest}
    known = memo.get(list(digests.values()))
    missing = list(dict.fromkeys(d for d in digests.values() if d not in known))
    if missing:
        first = {}  # one path per content
        for path, digest in digests.items():
            first.setdefault(digest, path)
        todo = [first[d] for d in missing]
        task = progress.add_task("find landmarks", total=len(todo), stats="") if progress else None
        results = []
        if workers > 0:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for marks in pool.imap(detect, todo, chunksize=4):
                    results.append(marks)
                    if progress:
                        progress.advance(task)
        else:
            for path in todo:
                results.append(detect(path))
                if progress:
                    progress.advance(task)
        new = dict(zip(missing, results))
        memo.put(new)
        known.update(new)
        if progress:
            progress.remove_task(task)
    found.update({p: known[d] for p, d in digests.items()})
    return found
