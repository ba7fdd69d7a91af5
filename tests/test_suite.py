from pathlib import Path

import pytest
import yaml

from benchmark.errors import BenchmarkError
from benchmark.suite import load_suite, parse_suite

from conftest import run_main

SUITES = Path(__file__).resolve().parents[1] / "suites"

BASE = {
    "name": "t",
    "data": {"root": "d", "real": "Real_youtube"},
    "pairings": [{"train": "FaceSwap", "test": ["NeuralTextures"]}],
    "detectors": {"clip-adapter": {"epochs": 15}},
}


def write(tmp_path, data) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_defaults_fill_missing_keys(tmp_path):
    suite = load_suite(write(tmp_path, BASE))
    assert suite.metrics == ("auc", "eer", "f1", "accuracy")
    assert suite.seeds == (42,)
    assert suite.prompts == "default"
    assert dict(suite.data.split) == {"train": 0.7, "val": 0.15, "test": 0.15}
    assert suite.tests_for("FaceSwap") == ("NeuralTextures",)


def test_set_overrides_nested_keys_and_whole_lists(tmp_path):
    suite = load_suite(write(tmp_path, BASE), [
        "detectors.clip-adapter.epochs=2",
        "pairings=[{train: A, test: [B, C]}, {train: A, test: [C, D]}]",
        "seeds=[1, 2]",
    ])
    assert suite.detectors["clip-adapter"]["epochs"] == 2
    assert suite.train_sets == ("A",)
    assert suite.tests_for("A") == ("B", "C", "D")
    assert suite.classes == ("A", "B", "C", "D")
    assert suite.seeds == (1, 2)
    # the resolved suite written to the run dir carries the overrides
    assert yaml.safe_load(suite.to_yaml())["detectors"]["clip-adapter"]["epochs"] == 2


@pytest.mark.parametrize("override, key", [("data.rooot=x", "data.rooot"), ("epoch=3", "epoch")])
def test_unknown_key_from_set_is_named(tmp_path, override, key):
    with pytest.raises(BenchmarkError, match=f"unknown suite key '{key}'"):
        load_suite(write(tmp_path, BASE), [override])


def test_unknown_key_in_file_is_named_with_suggestion(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown suite key 'pairing'; did you mean 'pairings'"):
        load_suite(write(tmp_path, {**BASE, "pairing": []}))


@pytest.mark.parametrize("change, message", [
    ({"name": None}, "'name' is required"),
    ({"pairings": []}, "'pairings' must be a non-empty list"),
    ({"pairings": [{"train": "A"}]}, "pairings\\[0\\].test"),
    ({"pairings": [{"train": "A", "test": ["B"], "val": "C"}]}, "pairings\\[0\\].val"),
    ({"seeds": ["x"]}, "'seeds'"),
    ({"detectors": {}}, "'detectors'"),
    ({"data": {"split": {"train": 0.9, "val": 0.2, "test": 0.1}}}, "add up to 1"),
])
def test_invalid_values_are_rejected_with_the_key(change, message):
    with pytest.raises(BenchmarkError, match=message):
        parse_suite({**BASE, **change})


def test_bad_set_syntax_and_bad_yaml(tmp_path):
    with pytest.raises(BenchmarkError, match="expected dotted.key=value"):
        load_suite(write(tmp_path, BASE), ["seeds"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(BenchmarkError, match="not valid YAML"):
        load_suite(bad)
    with pytest.raises(BenchmarkError, match="cannot read suite file"):
        load_suite(tmp_path / "missing.yaml")


@pytest.mark.parametrize("suite", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_suite_validates(suite, capsys):
    """Detectors, options, backbones and metrics of every suite in suites/ resolve (no data needed)."""
    code, out, err = run_main(capsys, "validate", suite)
    assert code == 0, err
    assert out.strip().endswith(f"ok: {suite}")


def test_shipped_suites_are_valid():
    for name in ("ff++", "ff++-matrix", "demo"):
        suite = load_suite(SUITES / f"{name}.yaml")
        assert suite.name == name
    matrix = load_suite(SUITES / "ff++-matrix.yaml")
    four = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
    assert matrix.train_sets == four and all(matrix.tests_for(t) == four for t in four)
    seed = load_suite(SUITES / "ff++.yaml")
    assert seed.train_sets == ("FaceSwap",) and "NeuralTextures" in seed.tests_for("FaceSwap")


def test_sections_left_out_take_their_defaults():
    suite = parse_suite({"name": "t", "pairings": [{"train": "A", "test": "B"}], "detectors": {"clip-adapter": None}})
    assert suite.data.real == "Real_youtube" and suite.data.synthetic is None and suite.data.layout == "folders"
    assert suite.selection.epoch == "best" and suite.selection.threshold == "val"
    assert dict(suite.detectors["clip-adapter"]) == {} and suite.tests_for("A") == ("B",)
