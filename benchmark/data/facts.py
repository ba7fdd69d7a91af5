"""File facts: content hash, format, size and decodability of image files, memoised per file version.

The memo is an SQLite database (``<cache dir>/file-facts.sqlite3``): one row per file version, keyed
by (path, size, mtime, inode, ctime), so an unchanged file is neither reread nor reopened on the
next run, and any write to a file (a user can set the mtime back with ``touch -d`` or ``cp -p``,
not the ctime) makes it a new version. Rows are written in one transaction per scan; SQLite's
locking keeps two processes (two runs sharing a cache) safe, and a damaged database only costs
rehashing. Lookups of a whole dataset are one indexed range scan merged against the sorted paths:
no per-file query, no memo held in memory.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmark.data.images import image_problem
from benchmark.errors import BenchmarkError

MEMO = "file-facts.sqlite3"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS facts (path TEXT NOT NULL, size INTEGER, mtime INTEGER, inode INTEGER, "
           "ctime INTEGER, sha256 TEXT, format TEXT, width INTEGER, height INTEGER, problem TEXT, "
           "PRIMARY KEY (path, size, mtime, inode, ctime)) WITHOUT ROWID")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(path: str) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns


def _measure(path: str) -> tuple[str, str, int, int, str]:
    problem, fmt, width, height = image_problem(path)
    return sha256_file(path), fmt, width, height, problem


class FileFacts:
    """(sha256 hex, format, width, height, problem) per image file; problem is "" for a file that
    decodes, else why it does not. ``root`` None: nothing is remembered between processes."""

    def __init__(self, root: Path | None):
        self.path = Path(root) / MEMO if root else None
        self.seen: dict[str, tuple] = {}  # path -> facts, as this process last found them
        self._single: dict[str, tuple] = {}  # path -> (version, facts) of files asked for one by one

    # -- the memo on disk ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a cache dir that is a file: the CLI names it
        for attempt in (1, 2):
            try:
                db = sqlite3.connect(self.path, timeout=60)
                db.execute(_SCHEMA)
                return db
            except sqlite3.OperationalError as e:
                raise BenchmarkError(f"cannot use the file-facts memo {self.path}: {e}; check the cache dir's "
                                     "permissions, or pass another --cache-dir (or --no-cache)") from None
            except sqlite3.DatabaseError:  # not a database (damaged): start a new one, it only costs rehashing
                if attempt == 2:
                    raise
                self.path.unlink(missing_ok=True)

    def _remembered(self, db, wanted: list[tuple[str, tuple]]) -> dict[str, tuple]:
        """path -> facts for the ``wanted`` (path, version) pairs the memo holds: one indexed range scan
        over the span of their paths (rows of other paths in that span are skipped)."""
        if not wanted:
            return {}
        versions = dict(wanted)
        found = {}
        rows = db.execute("SELECT path, size, mtime, inode, ctime, sha256, format, width, height, problem FROM facts "
                          "WHERE path >= ? AND path <= ?", (min(versions), max(versions)))
        formats: dict[str, str] = {}  # one string per format, not one per row
        for path, size, mtime, inode, ctime, sha, fmt, width, height, problem in rows:
            if versions.get(path) == (size, mtime, inode, ctime):
                found[path] = (sha, formats.setdefault(fmt, fmt), width, height, problem)
        return found

    def _remember(self, db, rows: list[tuple[str, tuple, tuple]]) -> None:
        if db is None or not rows:
            return
        try:
            with db:  # one transaction: older versions of a path go, the new one comes in
                db.executemany("DELETE FROM facts WHERE path = ?", [(path,) for path, _, _ in rows])
                db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               [(path, *version, *facts) for path, version, facts in rows])
        except sqlite3.Error:
            pass  # a locked-out or full memo only costs rehashing next time

    # -- answers -------------------------------------------------------------------------------
    def scan(self, paths, workers: int = 8) -> dict[str, tuple]:
        """path -> facts for every path: one stat each, memo hits answered in a plain loop, only
        misses hashed and decoded (in threads: both release the GIL), all written back at once."""
        versions = [(path, _version(path)) for path in dict.fromkeys(paths)]
        db = self._connect()
        try:
            out = self._remembered(db, versions) if db is not None else {}
        except sqlite3.Error:
            out = {}
        try:
            misses = [(path, version) for path, version in versions if path not in out]
            if misses:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    measured = list(pool.map(_measure, [path for path, _ in misses]))
                out.update(zip([path for path, _ in misses], measured))
                self._remember(db, [(path, version, facts) for (path, version), facts in zip(misses, measured)])
        finally:
            if db is not None:
                db.close()
        if self.seen:
            self.seen.update(out)
        else:
            self.seen = out  # the usual case, one scan per process: no second dict of a million entries
        return out

    def facts(self, path: str) -> tuple[str, str, int, int, str]:
        """The file's facts now (one stat: a file changed since is a new version)."""
        version, known = _version(path), self._single.get(path)
        if known is None or known[0] != version:  # e.g. a weights file named by several detectors
            known = self._single[path] = (version, self.scan([path], workers=1)[path])
        return known[1]

    def __call__(self, path: str) -> str:
        return self.facts(path)[0]

    def digest(self, path: str) -> str:
        """The sha256 this process already found for ``path`` (by :meth:`scan`), without another stat;
        what the embedding lookups use right after the data was scanned."""
        known = self.seen.get(path)
        return known[0] if known is not None else self(path)
