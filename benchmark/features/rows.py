"""Embedding rows by content digest, looked up and gathered in bulk: no per-row Python.

A :class:`RowStore` holds row sources (memory-mapped cache shards, or arrays encoded in this process)
and a :class:`DigestIndex` from 32-byte digests to (source, row). Lookups are one ``searchsorted``
over the digests' first 8 bytes, confirmed against the whole digest; gathers are one fancy-index per
source, straight into one float32 array.
"""

from __future__ import annotations

import numpy as np

DIGEST = 32


def as_keys(digests) -> np.ndarray:
    """Hex digests (a list of str) or raw keys -> an (n,) ``S32`` array."""
    if isinstance(digests, np.ndarray):
        return digests
    digests = list(digests)
    if not digests:
        return np.empty(0, dtype=f"S{DIGEST}")
    return np.frombuffer(bytes.fromhex("".join(digests)), dtype=f"S{DIGEST}")


def as_hex(keys: np.ndarray) -> list[str]:
    """The inverse of :func:`as_keys` (through the raw bytes: numpy drops trailing NULs of S items)."""
    raw = np.ascontiguousarray(keys).tobytes().hex()
    return [raw[i:i + 2 * DIGEST] for i in range(0, len(raw), 2 * DIGEST)]


def _prefix(keys: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(keys).view(np.uint8).reshape(-1, DIGEST)[:, :8].copy().view("<u8").ravel()


class DigestIndex:
    """digest -> (source, row), sorted by the digest's first 8 bytes; additions are merged on the next lookup."""

    def __init__(self):
        self.keys = np.empty(0, dtype=f"S{DIGEST}")
        self.prefix = np.empty(0, dtype="<u8")
        self.source = np.empty(0, dtype=np.int32)
        self.row = np.empty(0, dtype=np.int32)
        self._staged: list[tuple] = []

    def add(self, keys: np.ndarray, source, rows: np.ndarray | None = None) -> None:
        if len(keys):
            rows = np.arange(len(keys), dtype=np.int32) if rows is None else rows
            self._staged.append((keys, np.broadcast_to(np.int32(source), len(keys)) if np.isscalar(source)
                                 else source, rows))

    def _merge(self) -> None:
        if not self._staged:
            return
        # newest first, so that a stable sort keeps the newest of two equal digests
        parts = [(k, s, r) for k, s, r in reversed(self._staged)] + [(self.keys, self.source, self.row)]
        self._staged = []
        keys = np.concatenate([p[0] for p in parts])
        source = np.concatenate([np.asarray(p[1], dtype=np.int32) for p in parts])
        row = np.concatenate([np.asarray(p[2], dtype=np.int32) for p in parts])
        prefix = _prefix(keys)
        order = np.argsort(prefix, kind="stable")
        keys, prefix, source, row = keys[order], prefix[order], source[order], row[order]
        keep = np.ones(len(keys), dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]  # a digest stored twice (two shards) counts once
        self.keys, self.prefix, self.source, self.row = keys[keep], prefix[keep], source[keep], row[keep]

    def __len__(self) -> int:
        self._merge()
        return len(self.keys)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Positions of ``keys`` in the index, -1 where absent."""
        self._merge()
        n = len(self.keys)
        if n == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        wanted = _prefix(keys)
        at = np.searchsorted(self.prefix, wanted)
        clipped = np.minimum(at, n - 1)
        hit = self.keys[clipped] == keys
        for i in np.flatnonzero(~hit & (self.prefix[clipped] == wanted)):  # 8 equal bytes, another digest
            j = at[i]
            while j < n and self.prefix[j] == wanted[i]:
                if self.keys[j] == keys[i]:
                    clipped[i], hit[i] = j, True
                    break
                j += 1
        return np.where(hit, clipped, -1)


class RowStore:
    """Rows by digest over several sources (arrays of shape (rows, dim))."""

    def __init__(self):
        self.index = DigestIndex()
        self.sources: list[np.ndarray] = []
        self._linked: dict[int, int] = {}  # id of another store's source -> its number here

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, digest: str) -> bool:
        return bool(self.index.find(as_keys([digest]))[0] >= 0)

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Rows held here (encoded by this process, or received from another)."""
        self._linked[id(rows)] = len(self.sources)  # so that a later link() to the same array reuses it
        self.sources.append(rows)
        self.index.add(keys, len(self.sources) - 1)

    def link(self, keys: np.ndarray, other: "RowStore", positions: np.ndarray) -> None:
        """Refer to rows ``other`` holds at ``positions`` (no copy: its memory-mapped shards are shared)."""
        if not len(keys):
            return
        theirs, inverse = np.unique(other.index.source[positions], return_inverse=True)
        for source in theirs:
            array = other.sources[source]
            if id(array) not in self._linked:
                self._linked[id(array)] = len(self.sources)
                self.sources.append(array)
        mine = np.array([self._linked[id(other.sources[s])] for s in theirs], dtype=np.int32)[inverse]
        self.index.add(keys, mine, other.index.row[positions])

    def find(self, keys: np.ndarray) -> np.ndarray:
        return self.index.find(keys)

    def get(self, digests) -> np.ndarray:
        """(len(digests), dim) float32 rows of hex digests; every one must be present."""
        positions = self.find(as_keys(digests))
        if (positions < 0).any():
            raise KeyError(as_hex(as_keys(digests)[positions < 0][:1])[0])
        return self.gather(positions)

    def gather(self, positions: np.ndarray, dtype=np.float32) -> np.ndarray:
        """(len(positions), dim) rows; every position must be present (>= 0)."""
        if not len(positions):
            return np.empty((0, 0), dtype=dtype)
        sources, rows = self.index.source[positions], self.index.row[positions]
        out = np.empty((len(positions), self.sources[int(sources[0])].shape[1]), dtype=dtype)
        order = np.argsort(sources, kind="stable")
        bounds = np.flatnonzero(np.diff(sources[order])) + 1
        for part in np.split(order, bounds):
            out[part] = self.sources[int(sources[part[0]])][rows[part]]
        return out
