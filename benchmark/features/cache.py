"""Persistent embedding cache, shared by every run, pairing, seed and detector that uses the same
frozen encoder.

Layout under the cache root (``--cache-dir``, default ``$XDG_CACHE_HOME/forgery-benchmark``)::

    embeddings/<encoder key>/<shard>.npy    float16 (n, dim) embeddings, memory-mapped on read
    embeddings/<encoder key>/<shard>.keys   n 32-byte content digests + sha256(digests + .npy bytes)
    embeddings/<encoder key>/verified.json  shard -> the file versions whose checksum was verified
    file-facts.sqlite3                      file version -> sha256, format, size, decodes (benchmark.data.facts)

The encoder key hashes everything that changes an embedding (model config, weights identity,
preprocessing, decoder); an entry's key is the sha256 of the image's bytes, so renaming a file
keeps its entry and changing one byte misses. A shard is committed by writing its .keys file
last; a shard whose files are missing, truncated or fail the checksum (which covers the keys and
the embeddings together, so even two swapped keys are caught) is deleted and re-encoded. The
checksum is verified when a shard is first opened and again whenever either file's size, mtime,
inode or ctime changes (not on every start); a shard written in the last few seconds is verified
again next time, since a same-size rewrite within the clock's granularity keeps its mtime (git's
"racily clean" rule). A long encoding pass commits a shard every ``SHARD_ROWS`` images, so a kill
loses at most one shard. Lookups and gathers are vectorised (:mod:`benchmark.features.rows`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np

from benchmark.data.facts import FileFacts, sha256_file  # noqa: F401 - where callers have always found them
from benchmark.features.rows import DIGEST, RowStore, as_keys
from benchmark.files import atomic_write

RACY_NS = 3_000_000_000  # a file younger than this may still change without its mtime showing it
STAMPS = "verified.json"
FORMAT = 2  # 2: the checksum covers keys and embeddings; part of every encoder key


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "forgery-benchmark"


class EmbeddingCache(RowStore):
    """content digest -> embedding row, for one encoder key."""

    def __init__(self, root: Path, encoder_key: str):
        super().__init__()
        self.dir = Path(root) / "embeddings" / encoder_key
        self.rebuilt = 0  # damaged shards found and dropped
        self._load()

    def _stamps(self) -> dict:
        try:
            stamps = json.loads((self.dir / STAMPS).read_text())
            return stamps if isinstance(stamps, dict) else {}
        except (OSError, ValueError):
            return {}  # lost stamps only cost verifying again

    def _load(self) -> None:
        if not self.dir.is_dir():
            return
        stamps, fresh = self._stamps(), {}
        now = time.time_ns()
        for keys_file in sorted(self.dir.glob("*.keys")):
            shard = keys_file.with_suffix(".npy")
            try:
                versions = [_version(keys_file), _version(shard)]
                raw = keys_file.read_bytes()
                if len(raw) < 2 * DIGEST or len(raw) % DIGEST:
                    raise ValueError("truncated keys")
                keys, checksum = raw[:-DIGEST], raw[-DIGEST:]
                if stamps.get(shard.stem) != versions:
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
            if all(now - v[1] > RACY_NS and now - v[3] > RACY_NS for v in versions):
                fresh[shard.stem] = versions
            self.add(np.frombuffer(keys, dtype=f"S{DIGEST}"), array)
        if fresh != stamps:
            try:
                atomic_write(self.dir / STAMPS, json.dumps(fresh))
            except OSError:
                pass  # a read-only cache is verified on every start instead

    def put(self, keys: list[str], embeddings: np.ndarray) -> None:
        """Commit ``embeddings`` (rows for hex digests ``keys``) as one shard."""
        if not len(keys):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        shard = self.dir / f"{name}.npy"
        data = np.ascontiguousarray(embeddings, dtype=np.float16)
        buffer = io.BytesIO()
        np.save(buffer, data)
        atomic_write(shard, buffer.getvalue())
        key_array = as_keys(keys)
        key_bytes = key_array.tobytes()
        checksum = hashlib.sha256(key_bytes + buffer.getvalue()).digest()  # keys and rows, together
        atomic_write(self.dir / f"{name}.keys", key_bytes + checksum)
        self.add(key_array, np.load(shard, mmap_mode="r"))

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*") if p.is_file()) if self.dir.is_dir() else 0


def _version(path: Path) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]
