"""Persistent embedding cache, shared by every run, pairing, seed and detector that uses the same
frozen encoder.

Layout under the cache root (``--cache-dir``, default ``$XDG_CACHE_HOME/forgery-benchmark``)::

    embeddings/<encoder key>/<shard>.npy    float16 (n, dim) embeddings, memory-mapped on read
    embeddings/<encoder key>/<shard>.keys   n 32-byte content digests + sha256(digests + .npy bytes)
    file-facts.json                         (path, size, mtime) -> sha256, format, size, decodes: skips rereading

The encoder key hashes everything that changes an embedding (model config, weights identity,
preprocessing, decoder); an entry's key is the sha256 of the image's bytes, so renaming a file
keeps its entry and changing one byte misses. A shard is committed by writing its .keys file
last; a shard whose files are missing, truncated or fail the checksum (which covers the keys and
the embeddings together, so even two swapped keys are caught) is deleted and re-encoded. A long
encoding pass commits a shard every ``SHARD_ROWS`` images, so a kill loses at most one shard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path

import numpy as np

from benchmark.data.images import image_problem
from benchmark.files import atomic_write

DIGEST = 32
FORMAT = 2  # 2: the checksum covers keys and embeddings; part of every encoder key


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "forgery-benchmark"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileFacts:
    """Content hash, format and size of image files, memoised under a (path, size, mtime, inode,
    ctime) key so unchanged files are neither reread nor reopened on the next run. A user can set
    the mtime back (``touch -d``, ``cp -p``), not the ctime: any write to a file changes its key."""

    def __init__(self, root: Path | None):
        self.path = root / "file-facts.json" if root else None
        self.known: dict[str, list] = {}
        if self.path and self.path.exists():
            try:
                self.known = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError):
                self.known = {}  # a damaged memo only costs rehashing
        self.changed = False

    def facts(self, path: str) -> tuple[str, str, int, int, str]:
        """(sha256 hex, image format, width, height, problem); problem is "" for a file that
        decodes, else why it does not (checked once per file version, then memoised)."""
        stat = os.stat(path)
        key = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}|{stat.st_ctime_ns}"
        known = self.known.get(key)
        if known is None or len(known) != 5:
            problem, fmt, width, height = image_problem(path)
            known = self.known[key] = [sha256_file(path), fmt, width, height, problem]
            self.changed = True
        return tuple(known)

    def __call__(self, path: str) -> str:
        return self.facts(path)[0]

    def save(self) -> None:
        if self.path and self.changed:
            atomic_write(self.path, json.dumps(self.known))
            self.changed = False


class EmbeddingCache:
    """content digest (hex) -> embedding row, for one encoder key."""

    def __init__(self, root: Path, encoder_key: str):
        self.dir = root / "embeddings" / encoder_key
        self.index: dict[str, tuple[np.ndarray, int]] = {}
        self.rebuilt = 0  # damaged shards found and dropped
        self._load()

    def _load(self) -> None:
        if not self.dir.is_dir():
            return
        for keys_file in sorted(self.dir.glob("*.keys")):
            shard = keys_file.with_suffix(".npy")
            try:
                raw = keys_file.read_bytes()
                if len(raw) < 2 * DIGEST or len(raw) % DIGEST:
                    raise ValueError("truncated keys")
                keys, checksum = raw[:-DIGEST], raw[-DIGEST:]
                if hashlib.sha256(keys + shard.read_bytes()).digest() != checksum:
                    raise ValueError("checksum mismatch")
                array = np.load(shard, mmap_mode="r")
                if array.ndim != 2 or array.shape[0] != len(keys) // DIGEST:
                    raise ValueError("shape mismatch")
            except (OSError, ValueError):
                keys_file.unlink(missing_ok=True)
                shard.unlink(missing_ok=True)
                self.rebuilt += 1
                continue
            for row in range(array.shape[0]):
                self.index[keys[row * DIGEST : (row + 1) * DIGEST].hex()] = (array, row)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def get(self, keys: list[str]) -> np.ndarray:
        """(len(keys), dim) float32; every key must be present."""
        return np.stack([np.asarray(self.index[k][0][self.index[k][1]], dtype=np.float32) for k in keys])

    def put(self, keys: list[str], embeddings: np.ndarray) -> None:
        if not keys:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        shard = self.dir / f"{name}.npy"
        data = np.ascontiguousarray(embeddings, dtype=np.float16)
        buffer = io.BytesIO()
        np.save(buffer, data)
        atomic_write(shard, buffer.getvalue())
        key_bytes = b"".join(bytes.fromhex(k) for k in keys)
        checksum = hashlib.sha256(key_bytes + shard.read_bytes()).digest()  # keys and rows, together
        atomic_write(self.dir / f"{name}.keys", key_bytes + checksum)
        array = np.load(shard, mmap_mode="r")
        for row, key in enumerate(keys):
            self.index[key] = (array, row)

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*") if p.is_file()) if self.dir.is_dir() else 0
