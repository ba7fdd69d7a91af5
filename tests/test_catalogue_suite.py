"""Catalogue, part 1: bad suites, options and flags. Each is refused with one line naming the key
or file and what to do, exit code 2, no traceback, and nothing written - by `run` and `validate`."""

import time

import pytest

from conftest import SEED_SUITE, assert_refused, make_class_folders, run_main, tiny_args, write_suite


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folders(tmp_path_factory.mktemp("data"), {
        "Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)}, videos=5, frames=1)


def refuse(capsys, tmp_path, data, backbone, suite_text, extra, message):
    """`run` and `validate` both refuse, naming ``message``; `run` writes nothing."""
    suite = write_suite(tmp_path / "suite.yaml", suite_text)
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", out,
                            *tiny_args(backbone), *extra), message, out)
    assert_refused(run_main(capsys, "validate", suite, "--data-dir", data, *tiny_args(backbone)[:-2], *extra),
                   message)


SUITE_CASES = {
    "malformed yaml": ("name: [unclosed\n", [], "not valid YAML at line 2, column 1"),
    "not a mapping": ("- name: t\n", [], "a suite must be a YAML mapping"),
    "python tag": (SEED_SUITE + "description: !!python/object/apply:os.system ['touch pwned']\n", [],
                   "no Python tags"),
    "unknown key": (SEED_SUITE + "seed: 3\n", [], "unknown suite key 'seed'; did you mean 'seeds'?"),
    "name with slash": (SEED_SUITE.replace("name: t", "name: a/b"), [], "'name' must be a plain folder name"),
    "class escaping the run dir": (SEED_SUITE.replace("test: [FaceSwap, NeuralTextures]", "test: [../../x]"), [],
                                   "'pairings[0].test[0]' must be a plain folder name"),
    "detector name with separator": (SEED_SUITE, ["--set", "detectors={a/b: {}}"], "must be a plain folder name"),
    "seeds of the wrong type": (SEED_SUITE + "seeds: [x]\n", [], "'seeds' must be a non-empty list of integers"),
    "duplicate seeds": (SEED_SUITE + "seeds: [1, 2, 1]\n", [], "'seeds' lists 1 twice"),
    "negative seed": (SEED_SUITE + "seeds: [-1]\n", [], "outside numpy's seed range"),
    "seed too large": (SEED_SUITE + "seeds: [4294967296]\n", [], "outside numpy's seed range"),
    "empty pairings": (SEED_SUITE.replace("pairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]",
                                          "pairings: []"), [], "'pairings' must be a non-empty list"),
    "train is the real class": (SEED_SUITE.replace("train: FaceSwap", "train: Real_youtube"), [],
                                "pairings[0].train is the real class"),
    "test set without fakes": (SEED_SUITE.replace("test: [FaceSwap, NeuralTextures]", "test: [Real_youtube]"), [],
                               "a test set without fakes"),
    "split not adding up": (SEED_SUITE + "", ["--set", "data.split={train: 0.5, val: 0.2, test: 0.2}"],
                            "'data.split' fractions must add up to 1"),
    "frames_per_video zero": (SEED_SUITE, ["--set", "data.frames_per_video=0"], "'data.frames_per_video' must be"),
    "bad on_bad_image": (SEED_SUITE, ["--set", "data.on_bad_image=ignore"], "'data.on_bad_image' must be skip or fail"),
    "bad max_bad_fraction": (SEED_SUITE, ["--set", "data.max_bad_fraction=2"], "'data.max_bad_fraction' must be"),
    "threshold out of range": (SEED_SUITE, ["--set", "selection.threshold=2"], "'selection.threshold' must be"),
    "metric twice": (SEED_SUITE + "metrics: [auc, auc]\n", [], "'metrics' lists a metric twice"),
    "unknown metric": (SEED_SUITE + "metrics: [auc, aucc]\n", [], "unknown metric 'aucc'; did you mean 'auc'?"),
    "unknown prompt set": (SEED_SUITE + "prompts: nope\n", [], "unknown prompt set 'nope'"),
    "unknown detector": (SEED_SUITE.replace("clip-adapter: {}", "clip-adaptor: {}"), [],
                         "unknown detector 'clip-adaptor'; did you mean 'clip-adapter'?"),
    "unknown option": (SEED_SUITE, ["--set", "detectors.clip-adapter.epoch=3"],
                       "unknown option 'detectors.clip-adapter.epoch'; did you mean 'epochs'?"),
    "epochs as text": (SEED_SUITE, ["--set", "detectors.clip-adapter.epochs='2.5'"],
                       "detectors.clip-adapter.epochs must be an integer, got '2.5'"),
    "epochs zero": (SEED_SUITE, ["--set", "detectors.clip-adapter.epochs=0"], "detectors.clip-adapter.epochs: must be >= 1"),
    "epochs negative": (SEED_SUITE, ["--set", "detectors.clip-adapter.epochs=-3"], "detectors.clip-adapter.epochs: must be >= 1"),
    "epochs fractional": (SEED_SUITE, ["--set", "detectors.clip-adapter.epochs=2.9"],
                          "detectors.clip-adapter.epochs must be an integer, got 2.9"),
    "epochs boolean": (SEED_SUITE, ["--set", "detectors.clip-adapter.epochs=true"],
                       "detectors.clip-adapter.epochs must be an integer, got True"),
    "batch size zero": (SEED_SUITE, ["--set", "detectors.clip-adapter.batch_size=0"],
                        "detectors.clip-adapter.batch_size: must be >= 1"),
    "lr zero": (SEED_SUITE, ["--set", "detectors.clip-adapter.lr=0"], "detectors.clip-adapter.lr: must be > 0"),
    "lr negative": (SEED_SUITE, ["--set", "detectors.clip-adapter.lr=-0.1"], "detectors.clip-adapter.lr: must be > 0"),
    "lr not finite": (SEED_SUITE, ["--set", "detectors.clip-adapter.lr=.nan"],
                      "detectors.clip-adapter.lr must be a finite number"),
    "lr a string": (SEED_SUITE, ["--set", "detectors.clip-adapter.lr=fast"],
                    "detectors.clip-adapter.lr must be a finite number, got 'fast'"),
    "dropout one": (SEED_SUITE, ["--set", "detectors.clip-adapter.dropout=1.0"],
                    "detectors.clip-adapter.dropout: must be in [0, 1)"),
    "weight decay negative": (SEED_SUITE, ["--set", "detectors.clip-adapter.weight_decay=-0.01"],
                              "detectors.clip-adapter.weight_decay: must be >= 0"),
    "malformed --set": (SEED_SUITE, ["--set", "seeds"], "expected dotted.key=value"),
    "--set with bad yaml": (SEED_SUITE, ["--set", "seeds=[1, 2"], "--set seeds: not valid YAML"),
    "--set inside a list": (SEED_SUITE + "seeds: [1]\n", ["--set", "seeds.x=1"], "'seeds' is not a mapping"),
    "unknown class": (SEED_SUITE.replace("test: [FaceSwap, NeuralTextures]", "test: [NeuralTexture]"), [],
                      "class 'NeuralTexture' not found: no folder"),
    "unknown class with suggestion": (SEED_SUITE.replace("train: FaceSwap", "train: Faceswap"), [],
                                      "did you mean 'FaceSwap'?"),
    "unavailable GPU": (SEED_SUITE, ["--device", "cuda:3"], "--device cuda:3: no CUDA device is visible"),
    "unknown device": (SEED_SUITE, ["--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
}


@pytest.mark.parametrize("case", list(SUITE_CASES))
def test_bad_suite_is_refused_by_run_and_validate(case, capsys, tmp_path, data, tiny_backbone):
    text, extra, message = SUITE_CASES[case]
    if case in ("unavailable GPU", "unknown device"):  # validate has no --device
        suite = write_suite(tmp_path / "suite.yaml", text)
        assert_refused(run_main(capsys, "run", suite, "--data-dir", data, "--output-dir", tmp_path / "out",
                                *tiny_args(tiny_backbone), *extra), message, tmp_path / "out")
        return
    refuse(capsys, tmp_path, data, tiny_backbone, text, extra, message)
    assert not (tmp_path / "pwned").exists()


def test_non_utf8_suite(capsys, tmp_path):
    suite = tmp_path / "latin1.yaml"
    suite.write_bytes(SEED_SUITE.replace("name: t", "name: caf\xe9").encode("latin-1"))
    assert_refused(run_main(capsys, "validate", suite), "not UTF-8 text")


def test_alias_bomb_is_bounded(capsys, tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\n" + SEED_SUITE + "description: *a9\n"
    assert len(text) < 1600
    suite = write_suite(tmp_path / "bomb.yaml", text)
    started = time.perf_counter()
    assert_refused(run_main(capsys, "validate", suite), "expands to more than 100000 values")
    assert_refused(run_main(capsys, "run", suite, "--output-dir", tmp_path / "out"), "expands to more than", tmp_path / "out")
    assert time.perf_counter() - started < 10


def test_missing_data_root(capsys, tmp_path, tiny_backbone):
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    out = tmp_path / "out"
    assert_refused(run_main(capsys, "run", suite, "--data-dir", tmp_path / "nowhere", "--output-dir", out,
                            *tiny_args(tiny_backbone)), "is not a folder", out)
    assert_refused(run_main(capsys, "run", suite, "--output-dir", out, *tiny_args(tiny_backbone)),
                   "no data: pass --data-dir DIR or set data.root", out)


def test_missing_suite_file(capsys, tmp_path):
    assert_refused(run_main(capsys, "run", tmp_path / "nope.yaml"), "cannot read suite file")


def test_shortcut_flags_are_checked(capsys, tmp_path):
    suite = write_suite(tmp_path / "suite.yaml", SEED_SUITE)
    assert_refused(run_main(capsys, "validate", suite, "--lr", "-1"), "detectors.clip-adapter.lr: must be > 0")
    no_epochs = write_suite(tmp_path / "probe.yaml", SEED_SUITE.replace("clip-adapter: {}", "shortcut-probe: {}"))
    assert_refused(run_main(capsys, "validate", no_epochs, "--epochs", "3"),
                   "--epochs: no detector of")
