"""What makes a million frames cheap: the vectorised embedding store, shard checksums verified once
per file version, the SQLite file-facts memo, a resume that writes nothing, commands that fail
before torch is imported, and `benchmark perf --scale`."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import facts as facts_module
from benchmark.data.facts import FileFacts
from benchmark.features import cache as cache_module
from benchmark.features.cache import EmbeddingCache
from benchmark.features.rows import DigestIndex, as_hex, as_keys

from conftest import SEED_SUITE, make_class_folders, run_main, tiny_args, write_suite


def _digests(n: int, seed: int = 0) -> list[str]:
    return as_hex(np.frombuffer(np.random.default_rng(seed).bytes(32 * n), dtype="S32"))


def test_store_of_100k_rows_finds_and_gathers_every_row_in_bulk(tmp_path):
    n, dim = 100_000, 16
    digests = _digests(n)
    rows = np.random.default_rng(1).standard_normal((n, dim)).astype(np.float16)
    cache = EmbeddingCache(tmp_path, "enc")
    for start in range(0, n, 4096):
        cache.put(digests[start:start + 4096], rows[start:start + 4096])
    again = EmbeddingCache(tmp_path, "enc")  # from disk: 25 shards, one index
    assert len(again.index) == n and again.rebuilt == 0
    pick = np.random.default_rng(2).permutation(n)[:30_000]
    wanted = as_keys([digests[i] for i in pick] + _digests(5, seed=9))  # five that are not there
    at = again.find(wanted)
    assert (at[:-5] >= 0).all() and (at[-5:] == -1).all()
    np.testing.assert_array_equal(again.gather(at[:-5], dtype=np.float16), rows[pick])


def test_digests_sharing_their_first_eight_bytes_are_told_apart():
    a = bytes(8) + b"\x01" * 24
    b = bytes(8) + b"\x02" * 24
    c = bytes(8) + b"\x00" * 23 + b"\x03"  # trailing bytes differ, and NULs inside
    index = DigestIndex()
    keys = np.frombuffer(a + b + c, dtype="S32")
    index.add(keys, 0)
    assert index.find(np.frombuffer(c + a + b + bytes(32), dtype="S32")).tolist() == [
        index.find(keys[2:3])[0], index.find(keys[:1])[0], index.find(keys[1:2])[0], -1]
    assert sorted(index.find(keys).tolist()) == [0, 1, 2]
    assert as_hex(keys) == [a.hex(), b.hex(), c.hex()]  # trailing NULs survive the round trip


def test_a_verified_shard_is_not_reread_until_it_changes(tmp_path, monkeypatch):
    digests = _digests(50)
    EmbeddingCache(tmp_path, "enc").put(digests, np.ones((50, 8), np.float16))
    folder = tmp_path / "embeddings" / "enc"
    assert not (folder / cache_module.STAMPS).exists()  # just written: verified again at the next open
    monkeypatch.setattr(cache_module, "RACY_NS", 0)  # as if the shard were written long ago
    EmbeddingCache(tmp_path, "enc")  # verifies the shard and stamps it
    assert len(json.loads((folder / cache_module.STAMPS).read_text())) == 1

    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self.suffix) or real(self))
    assert len(EmbeddingCache(tmp_path, "enc").index) == 50
    assert ".npy" not in reads  # the embeddings were not read to check them again
    monkeypatch.undo()

    npy = next(folder.glob("*.npy"))
    stat = npy.stat()
    time.sleep(0.05)  # past the clock's granularity: the rewrite gets another ctime
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF
    npy.write_bytes(bytes(data))
    os.utime(npy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: the ctime still moved
    damaged = EmbeddingCache(tmp_path, "enc")
    assert damaged.rebuilt == 1 and len(damaged.index) == 0


def test_file_facts_memo_is_sqlite_and_survives_damage(tmp_path, monkeypatch):
    images = make_class_folders(tmp_path / "data", {"A": (0, 0, 0)}, videos=3, frames=2)
    paths = sorted(str(p) for p in images.rglob("*.png"))
    first = FileFacts(tmp_path / "cache").scan(paths)
    db = sqlite3.connect(tmp_path / "cache" / facts_module.MEMO)
    assert db.execute("SELECT COUNT(*) FROM facts").fetchone()[0] == len(paths)
    db.close()
    monkeypatch.setattr(facts_module, "_measure", lambda path: pytest.fail(f"{path} was read again"))
    assert FileFacts(tmp_path / "cache").scan(paths) == first  # another process: answered by the memo
    monkeypatch.undo()
    (tmp_path / "cache" / facts_module.MEMO).write_bytes(b"not a database" * 100)
    assert FileFacts(tmp_path / "cache").scan(paths) == first  # a damaged memo only costs rehashing


def test_second_validate_of_unchanged_data_reads_no_image(capsys, tmp_path, monkeypatch, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60)})
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    args = ["validate", suite, "--data-dir", data, "--cache-dir", tmp_path / "cache", *tiny_args(tiny_backbone)[:-2]]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    monkeypatch.setattr(facts_module, "_measure", lambda path: pytest.fail(f"{path} was read again"))
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "ok" in out


def test_resume_with_nothing_to_do_writes_only_its_log_line(capsys, tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60)})
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "run"
    args = ["run", suite, "--data-dir", data, "--output-dir", out, "--cache-dir", tmp_path / "cache",
            *tiny_args(tiny_backbone)]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err

    def state():
        return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
                if p.is_file() and p.name not in ("run.log", ".lock")}

    before, log = state(), (out / "run.log").read_text()
    code, stdout, err = run_main(capsys, *args)
    assert code == 0, err
    assert "nothing to do" in stdout
    assert state() == before
    added = (out / "run.log").read_text()[len(log):].splitlines()
    assert len(added) == 1 and "nothing to do (2 cells finished)" in added[0] and " phases {" in added[0]


def test_warm_linear_probe_run_loads_no_model(capsys, tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60)})
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE.replace(
        "clip-adapter: {}", f"clip-linear-probe: {{backbone: {tiny_backbone}, pretrained: none, c_values: [1.0]}}"))
    base = ["run", suite, "--data-dir", data, "--cache-dir", tmp_path / "cache"]
    for name in ("cold", "warm"):
        code, _, err = run_main(capsys, *base, "--output-dir", tmp_path / name)
        assert code == 0, err
    features = json.loads((tmp_path / "warm" / "meta.json").read_text())["features"]
    assert features["images_encoded"] == 0 and features["models_loaded"] == 0


def test_an_unknown_suite_key_is_refused_before_torch_is_imported(tmp_path):
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    probe = ("import sys; from benchmark.cli import main; code = main(sys.argv[1:]); "
             "print('torch imported' if 'torch' in sys.modules else 'no torch', code)")
    done = subprocess.run([sys.executable, "-c", probe, "run", str(suite), "--set", "no_such_key=1"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "unknown suite key 'no_such_key'" in done.stderr
    assert done.stdout.split() == ["no", "torch", "2"], done.stdout


@pytest.mark.slow
def test_perf_scale_prints_every_figure(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmark", "perf", "--scale", "300", "--scale-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["images"] == 300
    for step in ("dim32_cold", "dim32_warm", "dim32_resume", "dim512_warm", "dim512_resume", "validate_first",
                 "validate_second", "failing", "help", "plugins"):
        assert figures[step]["rc"] == (2 if step == "failing" else 0), step
    for step in ("dim32_warm", "dim512_warm"):
        assert figures[step]["phases"]["encode_s"] >= 0 and figures[step]["phases"]["training_at_s"] > 0
    assert "done_at_s" in figures["dim512_resume"]["phases"]  # the resume had nothing to do
    assert figures["dim32_cold"]["harness_ms_per_image"] > 0


def test_data_digests_keep_their_definition(tmp_path):
    """Older run dirs resume only if a class's digest is still sha256 of its rows sorted by path."""
    import hashlib

    import pandas as pd

    from benchmark.run.identity import data_digests

    rows = [("/d/B/2.jpg", "Fake", "test", "c" * 64), ("/d/A/10.jpg", "Real", "train", "a" * 64),
            ("/d/A/9.jpg", "Real", "val", "b" * 64), ("/d/B/1.jpg", "Fake", "train", "d" * 64)]
    table = pd.DataFrame(rows, columns=["path", "class", "split", "sha256"])
    expected = {cls: {"files": 2, "sha256": hashlib.sha256("\n".join(
        f"{p}\t{s}\t{h}" for p, c, s, h in sorted(rows) if c == cls).encode()).hexdigest()} for cls in ("Fake", "Real")}
    assert data_digests(table) == expected
