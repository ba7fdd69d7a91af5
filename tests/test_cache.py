"""The embedding cache: each image encoded once per encoder, damaged entries rebuilt."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.detector import EncoderSpec
from benchmark.features.cache import EmbeddingCache, FileFacts
from benchmark.features.encoders import FeatureStore

from conftest import TINY_CONFIG, make_class_folders, save_image
from test_cli import cli, tiny


def store(cache_dir, fast_decode=False):
    return FeatureStore(torch.device("cpu"), workers=0, cache_root=cache_dir, file_hash=FileFacts(cache_dir),
                        fast_decode=fast_decode)


@pytest.fixture
def images(tmp_path):
    root = make_class_folders(tmp_path / "imgs", {"A": (0, 0, 0), "B": (50, 0, 0)}, videos=3, frames=2)
    return sorted(str(p) for p in root.rglob("*.*"))


def test_each_change_re_encodes_exactly_what_changed(tmp_path, images, tiny_backbone):
    cache = tmp_path / "cache"
    spec = EncoderSpec(tiny_backbone, "none")
    first = store(cache)
    cold = first.images(spec, images)
    assert first.counts["images_encoded"] == len(images) and first.counts["cache_hits"] == 0

    warm = store(cache)
    torch.testing.assert_close(warm.images(spec, images), cold)
    assert warm.counts == {**warm.counts, "images_encoded": 0, "cache_hits": len(images), "models_loaded": 0}

    save_image(Path(images[0]), np.random.default_rng(5), (0, 99, 0), 30)  # new bytes
    one = store(cache)
    one.images(spec, images)
    assert one.counts["images_encoded"] == 1 and one.counts["cache_hits"] == len(images) - 1

    bigger = tmp_path / "configs" / "bench-tiny48.json"  # another image size: another encoder
    bigger.parent.mkdir()
    bigger.write_text(json.dumps({**TINY_CONFIG, "vision_cfg": {**TINY_CONFIG["vision_cfg"], "image_size": 48}}))
    other = store(cache)
    other.images(EncoderSpec(str(bigger), "none"), images)
    assert other.counts["images_encoded"] == len(images)

    drafted = store(cache, fast_decode=True)  # another decoder: another encoder key
    drafted.images(spec, images)
    assert drafted.counts["images_encoded"] == len(images)

    weights = tmp_path / "weights.pt"  # other weights: another encoder, keyed by the file's hash
    torch.save(first.encoder(spec).loaded.module.state_dict(), weights)
    local = store(cache)
    local.images(EncoderSpec(tiny_backbone, str(weights)), images)
    assert local.counts["images_encoded"] == len(images)


def test_cache_is_compact_and_text_is_cached_too(tmp_path, images, tiny_backbone):
    spec = EncoderSpec(tiny_backbone, "none")
    first = store(tmp_path)
    first.images(spec, images)
    text = first.texts(spec, ["a real face", "a fake face"])
    again = store(tmp_path)
    torch.testing.assert_close(again.texts(spec, ["a real face", "a fake face"]), text)
    assert again.counts["models_loaded"] == 0
    cache = next(iter(first.caches.values()))
    dim = TINY_CONFIG["embed_dim"]
    per_entry = cache.bytes_on_disk() / (len(images) + 2)
    assert per_entry < dim * 2 + 32 + 128  # float16 row + 32-byte key + a share of the .npy header


@pytest.mark.parametrize("damage", ["truncate_npy", "truncate_keys", "flip_byte", "delete_npy"])
def test_damaged_shard_is_detected_and_rebuilt(tmp_path, images, tiny_backbone, damage):
    spec = EncoderSpec(tiny_backbone, "none")
    reference = store(tmp_path).images(spec, images)
    shard_dir = next((tmp_path / "embeddings").iterdir())
    npy, keys = next(shard_dir.glob("*.npy")), next(shard_dir.glob("*.keys"))
    if damage == "truncate_npy":
        npy.write_bytes(npy.read_bytes()[:-100])
    elif damage == "truncate_keys":
        keys.write_bytes(keys.read_bytes()[:-5])
    elif damage == "flip_byte":
        data = bytearray(npy.read_bytes())
        data[-1] ^= 0xFF
        npy.write_bytes(bytes(data))
    else:
        npy.unlink()
    again = store(tmp_path)
    torch.testing.assert_close(again.images(spec, images), reference)
    assert again.counts["damaged_shards_rebuilt"] == 1 and again.counts["images_encoded"] == len(images)
    assert len(EmbeddingCache(tmp_path, shard_dir.name).index) == len(images)


@pytest.mark.slow
def test_warm_rerun_with_other_training_settings_encodes_nothing(tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60), "Deepfakes": (0, 60, 0)})
    suite = tmp_path / "2x2.yaml"
    suite.write_text("name: two-by-two\n"
                     "pairings: [{train: FaceSwap, test: [NeuralTextures, Deepfakes]},\n"
                     "           {train: Deepfakes, test: [FaceSwap, NeuralTextures]}]\n"
                     "detectors: {clip-adapter: {}}\n")
    cache = tmp_path / "cache"
    args = ["--data-dir", data, "--cache-dir", cache, *tiny(tiny_backbone, 2)]
    cold = cli("run", suite, "--output-dir", tmp_path / "cold", *args)
    assert cold.returncode == 0, cold.stderr
    features = json.loads((tmp_path / "cold" / "meta.json").read_text())["features"]
    splits = pd.read_csv(tmp_path / "cold" / "splits.csv")
    used = splits[(splits["class"] == "Real_youtube")
                  | (splits["class"].isin(["FaceSwap", "Deepfakes"]) & splits.split.isin(["train", "val"]))
                  | (splits.split == "test")]  # NeuralTextures is only tested: its train/val are never read
    n_images = len(used)
    assert n_images < len(splits)
    assert features["images_encoded"] == n_images and features["cache_hits"] == 0

    warm = cli("run", suite, "--output-dir", tmp_path / "warm", *args, "--set", "detectors.clip-adapter.epochs=5",
               "--set", "detectors.clip-adapter.lr=0.01", "--set", "seeds=[1, 2]")
    assert warm.returncode == 0, warm.stderr
    features = json.loads((tmp_path / "warm" / "meta.json").read_text())["features"]
    assert features["images_encoded"] == 0 and features["cache_hits"] == n_images
    assert features["models_loaded"] == 0  # a warm rerun does not even load the image encoder
    assert "images encoded 0" in warm.stdout


@pytest.mark.slow
def test_truncated_cache_run_equals_uncached_run(tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0),
                                                  "NeuralTextures": (0, 0, 60)})
    cache = tmp_path / "cache"
    base = ["run", "suites/ff++.yaml", "--data-dir", data, *tiny(tiny_backbone, 3)]
    assert cli(*base, "--output-dir", tmp_path / "fill", "--cache-dir", cache).returncode == 0
    for npy in (cache / "embeddings").rglob("*.npy"):
        npy.write_bytes(npy.read_bytes()[: len(npy.read_bytes()) // 2])
    damaged = cli(*base, "--output-dir", tmp_path / "damaged", "--cache-dir", cache)
    uncached = cli(*base, "--output-dir", tmp_path / "uncached", "--no-cache")
    assert damaged.returncode == 0 and uncached.returncode == 0, damaged.stderr + uncached.stderr
    assert json.loads((tmp_path / "damaged/meta.json").read_text())["features"]["damaged_shards_rebuilt"] >= 1
    rows = [[json.loads(line) for line in (tmp_path / run / "results.jsonl").read_text().splitlines()]
            for run in ("damaged", "uncached")]
    assert rows[0] == rows[1]
