"""Catalogue, part 2: bad data. Unreadable images are skipped, counted and listed (or stop the
run, listing all of them), odd-but-valid images are read, and bad class folders are one line."""

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data.images import image_problem

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, save_image, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


def bomb_png(path: Path, side: int = 30000) -> None:
    """A tiny PNG file whose header claims side x side pixels: beyond PIL's decompression-bomb limit."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def plant_bad_files(root: Path) -> dict[str, str]:
    """One of each kind of unreadable file, in video folders of the real class; path -> kind."""
    real = root / "Real_youtube"
    good = next(real.rglob("*.jpg"))
    files = {
        real / "bad0" / "empty.png": "empty",
        real / "bad1" / "empty.jpg": "empty",
        real / "bad2" / "truncated.jpg": "truncated",
        real / "bad3" / "text.png": "not an image",
        real / "bad4" / "bomb.png": "bomb",
    }
    for path, kind in files.items():
        path.parent.mkdir()
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        elif kind == "not an image":
            path.write_text("this is not a picture\n")
        else:
            bomb_png(path)
    return {str(p): kind for p, kind in files.items()}


@pytest.mark.parametrize("kind, expected", [
    ("empty", "empty file"), ("truncated", "image file is truncated"), ("not an image", "cannot identify image"),
    ("bomb", "decompression bomb"),
])
def test_each_kind_of_unreadable_file_is_named(tmp_path, kind, expected):
    make_class_folders(tmp_path, {"Real_youtube": (0, 0, 0)}, videos=1, frames=1, modes=[("jpg", "RGB")])
    planted = {k: v for k, v in plant_bad_files(tmp_path).items() if v == kind}
    for path in planted:
        assert expected in image_problem(path)[0]


@pytest.fixture
def bad_data(tmp_path):
    root = make_class_folders(tmp_path / "data", CLASSES, videos=12, frames=2)
    return root, plant_bad_files(root)


def test_unreadable_images_are_skipped_counted_and_listed(capsys, tmp_path, bad_data, tiny_backbone):
    root, planted = bad_data
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out,
                                 *tiny_args(tiny_backbone), "--set", "data.max_bad_fraction=0.3")
    assert code == 0, err
    audit = json.loads((out / "audit.json").read_text())
    assert {b["path"] for b in audit["unreadable"]} == set(planted)
    assert audit["duplicates"] == []  # two 0-byte files are unreadable, not "byte-identical copies"
    assert "5 unreadable images skipped" in " ".join(stdout.split())
    report = (out / "report.md").read_text()
    assert "5 unreadable images skipped" in report and "Unreadable images skipped: 5" in report
    assert all(f"`{path}`" in report for path in planted)
    assert not set(pd.read_csv(out / "splits.csv").path) & set(planted)
    assert json.loads((out / "meta.json").read_text())["unreadable_images"] == 5


def test_on_bad_image_fail_lists_all_of_them(capsys, tmp_path, bad_data, tiny_backbone):
    root, planted = bad_data
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE.replace("data: {real: Real_youtube}",
                                                                   "data: {real: Real_youtube, on_bad_image: fail}"))
    out = tmp_path / "out"
    result = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone))
    assert_refused(result, "5 unreadable image(s):", out)
    assert all(path in result[2] for path in planted)


def test_too_many_unreadable_images_stop_before_training(capsys, tmp_path, bad_data, tiny_backbone):
    root, _ = bad_data
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone)),
                   "class 'Real_youtube': 5 of 29 images are unreadable", out)
    assert_refused(run_main(capsys, "validate", suite, "--data-dir", root), "data.max_bad_fraction")


def test_missing_empty_and_imageless_class_folders(capsys, tmp_path, tiny_backbone):
    root = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, 0, 0)}, videos=4, frames=1)
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "out"
    args = ["--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone)]
    assert_refused(run_main(capsys, "run", suite, *args), "class 'NeuralTextures' not found: no folder", out)
    (root / "NeuralTextures").mkdir()
    assert_refused(run_main(capsys, "run", suite, *args), f"no .png/.jpg/.jpeg images in {root / 'NeuralTextures'}", out)
    (root / "NeuralTextures" / "notes.txt").write_text("no images here")
    assert_refused(run_main(capsys, "run", suite, *args), "class 'NeuralTextures': no .png/.jpg/.jpeg images", out)
    assert_refused(run_main(capsys, "validate", suite, "--data-dir", root), "class 'NeuralTextures'")


def test_odd_but_valid_images_names_and_links_are_read(capsys, tmp_path, tiny_backbone):
    """CMYK, 16-bit, grayscale, RGBA and palette images; spaces and non-ASCII in names; a class
    folder holding links that loop."""
    classes = {"Real faces": (0, 0, 0), "Face Swap é": (60, -30, 0)}
    root = make_class_folders(tmp_path / "dätä dir", classes, videos=8, frames=2)
    os.symlink(".", root / "Face Swap é" / "loop-to-self")
    os.symlink("b", root / "Face Swap é" / "a")
    os.symlink("a", root / "Face Swap é" / "b")
    suite = write_suite(tmp_path / "suite.yaml", "name: odd\ndata: {real: Real faces}\n"
                        "pairings: [{train: Face Swap é, test: [Face Swap é]}]\ndetectors: {clip-adapter: {}}\n")
    out = tmp_path / "out put"
    code, _, err = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone))
    assert code == 0, err
    splits = pd.read_csv(out / "splits.csv")
    assert len(splits) == 32 and splits.path.is_unique  # the self-link did not list images twice
    assert (out / "clip-adapter" / "train-Face Swap é" / "seed-42" / "test-Face Swap é" / "roc_curve.png").exists()
    formats = json.loads((out / "audit.json").read_text())["classes"]["Real faces"]["formats"]
    assert set(formats) == {"JPEG", "PNG"}


def test_the_same_image_under_two_classes_is_reported(capsys, tmp_path, tiny_backbone):
    root = make_class_folders(tmp_path / "data", CLASSES, videos=8, frames=1)
    source = next((root / "Real_youtube").rglob("*.*"))
    (root / "FaceSwap" / "copied").mkdir()
    shutil.copyfile(source, root / "FaceSwap" / "copied" / source.name)
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out,
                                 *tiny_args(tiny_backbone), "--set", "data.allow_duplicates=true")
    assert code == 0, err
    conflicts = json.loads((out / "audit.json").read_text())["conflicting_labels"]
    assert len(conflicts) == 1 and {c["class"] for c in conflicts[0]} == {"Real_youtube", "FaceSwap"}
    assert "conflicting labels" in " ".join(stdout.split())


def test_validate_checks_the_data_and_prints_counts(capsys, tmp_path):
    root = make_class_folders(tmp_path / "data", CLASSES, videos=8, frames=2)
    suite = write_suite(tmp_path / "suite.yaml", "name: all\ndata: {real: Real_youtube}\n"
                        "pairings: {matrix: [FaceSwap, NeuralTextures]}\ndetectors: {clip-adapter: {pretrained: none, "
                        "backbone: ViT-S-32-alt}}\n")
    code, stdout, err = run_main(capsys, "validate", suite, "--data-dir", root)
    assert code == 0, err
    assert "images (videos) per class and split" in stdout
    assert "16 (8)" not in stdout and "12 (6)" in " ".join(stdout.split())  # 8 videos x 2 frames, 6 train videos
    for cls in CLASSES:
        assert cls in stdout


def test_matrix_and_test_all_expand_to_every_class(capsys, tmp_path, tiny_backbone):
    root = make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)
    suite = write_suite(tmp_path / "suite.yaml", "name: all\ndata: {real: Real_youtube}\n"
                        "pairings: [{train: FaceSwap, test: all}]\ndetectors: {clip-adapter: {}}\n")
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone))
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["test"] for r in rows] == ["FaceSwap", "NeuralTextures"]
    saved = (out / "suite.yaml").read_text()
    assert "test:\n  - FaceSwap\n  - NeuralTextures" in saved  # the saved suite names what ran


def test_grayscale_and_palette_images_decode_to_rgb(tmp_path):
    from benchmark.data.images import load_rgb

    rng = np.random.default_rng(0)
    for mode in ("L", "P", "RGBA", "CMYK", "I;16"):
        path = tmp_path / f"{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
        save_image(path, rng, (0, 0, 0), 20, mode)
        assert image_problem(str(path))[0] == ""
        assert load_rgb(str(path)).mode == "RGB"
