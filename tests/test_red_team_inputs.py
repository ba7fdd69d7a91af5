"""Issue 18, inputs: every name that becomes a path is checked, nothing is silently replaced, scores
are probabilities, and each bad input is one line naming where it came from."""

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.features.cache import FileFacts
from benchmark.hookspecs import hookimpl
from benchmark.suite import load_suite
from benchmark_plugins.detectors.clip_adapter import ClipAdapter

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, tiny_args, write_suite

CLASSES = {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}


@pytest.fixture
def data(tmp_path):
    return make_class_folders(tmp_path / "data", CLASSES, videos=6, frames=1)


def _manifest(root: Path, classes: list[str], videos: int = 6, split=lambda cls, v: None) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for c, cls in enumerate(classes):
        for v in range(videos):
            image = root / "images" / f"c{c}" / f"{v}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(image)
            rows.append({"path": str(image.relative_to(root)), "class": cls, "video": f"v{v}", "split": split(cls, v)})
    frame = pd.DataFrame(rows)
    if all(r["split"] is None for r in rows):
        frame = frame.drop(columns="split")
    frame.to_csv(root / "manifest.csv", index=False)
    return root


def test_a_manifest_class_that_climbs_out_is_refused_and_nothing_is_written(capsys, tmp_path, tiny_backbone):
    root = _manifest(tmp_path / "data", ["Real_youtube", "FaceSwap", "../../../../elsewhere"])
    suite = write_suite(tmp_path / "s.yaml", "name: t\ndata: {real: Real_youtube, layout: manifest}\n"
                                             "pairings: [{train: FaceSwap, test: all}]\ndetectors: {clip-adapter: {}}\n")
    out = tmp_path / "deep" / "er" / "run"
    result = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", out, *tiny_args(tiny_backbone))
    assert_refused(result, "'class' must be a plain folder name", out)
    assert not list(tmp_path.rglob("test_predictions.csv")) and not list(tmp_path.rglob("roc_curve.png"))


def test_the_run_dir_refuses_a_name_that_climbs_out_whatever_made_it():
    from benchmark.run.results import cell_dir

    with pytest.raises(Exception, match="plain folder name"):
        cell_dir(Path("/tmp/run"), "d", "FaceSwap", 1, "../../elsewhere")


def test_a_set_named_like_a_class_is_refused_naming_both(capsys, tmp_path, tiny_backbone):
    data = make_class_folders(tmp_path / "data", {"Real": (0, 0, 0), "Photoshop": (40, 0, 0), "StyleGAN2": (0, 40, 0)},
                              videos=6, frames=1)
    suite = write_suite(tmp_path / "s.yaml", "name: t\ndata: {real: Real}\n"
                        "sets: {StyleGAN2: {real: [Real], fake: [Photoshop]}}\n"
                        "pairings: [{train: Photoshop, test: [StyleGAN2]}]\ndetectors: {clip-adapter: {}}\n")
    out = tmp_path / "run"
    result = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, *tiny_args(tiny_backbone))
    assert_refused(result, "set 'StyleGAN2' (sets.StyleGAN2) has the name of the class 'StyleGAN2'", out)


class OverConfident(ClipAdapter):
    """Trains as the reference does, then scores test images above 1."""

    def predict(self, samples, ctx):
        scores = super().predict(samples, ctx)
        return 0.3 * scores + 1.8 if getattr(self, "trained", False) else scores

    def fit(self, train, val, ctx):
        super().fit(train, val, ctx)
        self.trained = True


class Plugin:
    @staticmethod
    @hookimpl
    def register_detectors(register):
        register("over-confident", OverConfident)


def test_scores_outside_0_1_stop_the_run_naming_detector_cell_and_value(capsys, tmp_path, data, registered,
                                                                         tiny_backbone):
    registered(Plugin, "over-confident")
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE.replace(
        "clip-adapter: {}", f"over-confident: {{backbone: {tiny_backbone}, pretrained: none, epochs: 1}}"))
    code, _, err = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / "run", "--workers", "0")
    text = " ".join(err.split())
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "detector over-confident failed in predict on FaceSwap (train FaceSwap, seed 42)" in text
    first = float(text.split("predict() returned ")[1].split()[0])
    assert 1.8 <= first <= 2.1 and "scores outside [0, 1] or not finite" in text
    assert not (tmp_path / "run" / "results.jsonl").exists() or not (tmp_path / "run" / "results.jsonl").read_text()


def test_a_huge_suite_is_refused_at_once(capsys, tmp_path):
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE + "description: " + "x" * 50_000_000 + "\n")
    started = time.perf_counter()
    assert_refused(run_main(capsys, "validate", suite), "bytes is more than a suite may hold")
    assert time.perf_counter() - started < 5
    suite = write_suite(tmp_path / "ok.yaml", SEED_SUITE)
    assert_refused(run_main(capsys, "validate", suite, "--set", "description=" + "y" * 2_000_000),
                   "--set description: 2,000,000 bytes is more than a suite may hold")


def test_deeply_nested_yaml_is_one_line(capsys, tmp_path):
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE + "description: " + "[" * 20000 + "]" * 20000 + "\n")
    assert_refused(run_main(capsys, "validate", suite), "YAML nested too deeply to read")


def test_a_byte_flipped_with_its_mtime_restored_is_a_new_file_version(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    facts = FileFacts(tmp_path / "cache")
    before = facts(str(image))
    stat = image.stat()
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF  # same size
    time.sleep(0.01)
    image.write_bytes(bytes(data))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what a user can set back
    assert image.stat().st_size == stat.st_size and image.stat().st_mtime_ns == stat.st_mtime_ns
    assert facts(str(image)) != before


def test_set_errors_name_the_set_flag(capsys, tmp_path):
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
    code, _, err = run_main(capsys, "validate", suite, "--set", "detectors.clip-adapter.epoch=2")
    assert_refused((code, _, err), "with --set detectors.clip-adapter.epoch: unknown option 'detectors.clip-adapter.epoch'")


def test_one_spelling_per_perturbation(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", SEED_SUITE + "perturbations: [none, jpeg:50, jpeg:50.0, blur:1.50]\n"))
    assert suite.perturbations == ("none", "jpeg:50", "blur:1.5")


def test_an_output_dir_inside_the_data_root_is_refused(capsys, tmp_path, data, tiny_backbone):
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
    out = data / "runs" / "one"
    result = run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out, *tiny_args(tiny_backbone))
    assert_refused(result, f"--output-dir {out} is inside the data root", out)


def test_manifest_rows_with_an_empty_split_are_split_as_usual(tmp_path):
    from benchmark.data.dataset import load_dataset
    from benchmark.suite import parse_suite

    # Real and FaceSwap rows 0-1 carry their split; the rest have an empty cell
    given = {0: "test", 1: "val"}
    root = _manifest(tmp_path / "data", ["Real_youtube", "FaceSwap"], videos=10, split=lambda cls, v: given.get(v, ""))
    suite = parse_suite({"name": "t", "data": {"layout": "manifest"}, "pairings": [{"train": "FaceSwap", "test": "FaceSwap"}],
                         "detectors": {"clip-adapter": {}}})
    dataset = load_dataset(suite.data, root, ["FaceSwap"])
    split_of = {(s.cls, s.video): s.split for s in dataset.samples}
    assert len(split_of) == 20  # no row was dropped
    assert split_of["FaceSwap", "v0"] == "test" and split_of["Real_youtube", "v1"] == "val"
    assert {split_of["FaceSwap", f"v{v}"] for v in range(2, 10)} >= {"train"}


def test_predict_names_an_unknown_detector_with_a_suggestion(capsys, tmp_path):
    run = tmp_path / "run"
    (run / "pixel-cnn" / "train-FaceSwap" / "seed-1").mkdir(parents=True)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    result = run_main(capsys, "predict", run, image, "--detector", "pixelcnn", "--train", "FaceSwap")
    assert_refused(result, "--detector pixelcnn: not among the detectors of")
    assert "did you mean 'pixel-cnn'?" in result[2]


def test_validate_says_when_pretrained_weights_are_not_here(capsys, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache,
    monkeypatch.setenv("HOME", str(tmp_path))  # whatever this machine has downloaded
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE.replace("clip-adapter: {}",
                                                                "clip-adapter: {backbone: ViT-B-32, pretrained: openai}"))
    code, out, err = run_main(capsys, "validate", suite)
    assert code == 0, err
    assert ("pretrained: 'openai' for ViT-B-32 is not in the local cache and cannot be downloaded (HF_HUB_OFFLINE "
            "is set): a run here would stop") in " ".join(out.split())
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # validate itself never downloads
    code, out, err = run_main(capsys, "validate", suite)
    assert code == 0, err
    assert "is not cached: the first run downloads it" in " ".join(out.split())
    # once the file is in the cache, nothing is said
    cached = tmp_path / "hub" / "models--timm--vit_base_patch32_clip_224.openai"
    (cached / "refs").mkdir(parents=True)
    (cached / "refs" / "main").write_text("abc")
    (cached / "snapshots" / "abc").mkdir(parents=True)
    (cached / "snapshots" / "abc" / "open_clip_model.safetensors").write_bytes(b"weights")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run_main(capsys, "validate", suite)
    assert code == 0 and "not cached" not in out, err + out


def test_a_ray_address_without_a_port_number_is_one_plain_line(capsys, tmp_path, data, tiny_backbone):
    pytest.importorskip("ray", reason="the [ray] extra (installed by [dev])")
    suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
    result = run_main(capsys, "run", suite, "--data-dir", data, "--executor", "ray", "--address", "notahost:abc",
                      "--output-dir", tmp_path / "run", *tiny_args(tiny_backbone))
    # ":abc:" is a rich emoji code: printed as written, never as an emoji
    assert_refused(result, "--address notahost:abc: expected host:port with a port number (or auto), got port 'abc'")


def test_a_ray_address_where_something_else_listens_is_one_line_at_once(capsys, tmp_path, data, tiny_backbone):
    import socket

    pytest.importorskip("ray", reason="the [ray] extra (installed by [dev])")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # accepts, never answers: Ray itself would print warnings for minutes
        address = f"127.0.0.1:{server.getsockname()[1]}"
        suite = write_suite(tmp_path / "s.yaml", SEED_SUITE)
        started = time.perf_counter()
        result = run_main(capsys, "run", suite, "--data-dir", data, "--executor", "ray", "--address", address,
                          "--output-dir", tmp_path / "run", *tiny_args(tiny_backbone))
    assert_refused(result, f"--address {address}: something listens there, but not a Ray head", tmp_path / "run")
    assert time.perf_counter() - started < 30
