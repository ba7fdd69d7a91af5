"""Pseudo-fake generators on their own: the SBI and Face X-ray recipes, the landmark memo, the suite's
``generators`` section and `benchmark generate`."""

import re

import numpy as np
import pytest
from PIL import Image

from benchmark import plugins
from benchmark.errors import BenchmarkError
from benchmark.pseudo import landmarks as landmark_store
from benchmark.suite import parse_suite
from benchmark_plugins.generators.blended import FaceXrayBlend
from benchmark_plugins.generators.blending import BLEND_RATIOS, hull_mask
from benchmark_plugins.generators.sbi import SelfBlended
from conftest import assert_refused, run_main
from benchmark.pseudo.drawn import draw_face, face_landmarks, make_face_videos


def face(seed=0, size=96):
    rng = np.random.default_rng(seed)
    marks = face_landmarks(size, shift=rng.uniform(-3, 3, 2))
    return np.asarray(draw_face(size, rng, marks)), marks


def test_sbi_is_a_function_of_its_seed_and_blends_inside_the_face_hull():
    image, marks = face()
    a = SelfBlended().make(image, marks, np.random.default_rng(7))
    b = SelfBlended().make(image, marks, np.random.default_rng(7))
    c = SelfBlended().make(image, marks, np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    fake, mask = a
    assert fake.shape == image.shape and fake.dtype == np.uint8 and mask.shape == image.shape[:2]
    assert 0 <= mask.min() and mask.max() <= 1
    hull = hull_mask(image.shape[:2], marks)
    assert mask[hull == 0].max() < 0.5 * mask.max()  # the blend is the face's, not the background's
    # the peak weight is one of SBI's blend ratios (the twice-blurred mask peaks at 1 before scaling)
    peaks = [SelfBlended().make(image, marks, np.random.default_rng(s))[1].max() for s in range(12)]
    assert all(min(abs(p - r) for r in BLEND_RATIOS) < 0.05 for p in peaks), peaks
    assert len({round(float(p), 2) for p in peaks}) > 1


def test_blended_takes_its_face_from_the_partner():
    image, marks = face(0)
    other, other_marks = face(1)
    other = np.full_like(other, (20, 200, 20))  # a green partner: its pixels must show up inside the mask
    fake, mask = FaceXrayBlend().make(image, marks, np.random.default_rng(0), (other, other_marks))
    inside = mask > 0.9 * mask.max()
    assert inside.any() and fake[inside][:, 1].mean() > image[inside][:, 1].mean() - 5
    with pytest.raises(ValueError, match="partner"):
        FaceXrayBlend().make(image, marks, np.random.default_rng(0))


def test_landmarks_are_found_once_and_remembered_by_content(tmp_path, monkeypatch):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(face(0)[0]).save(a)
    Image.fromarray(face(0)[0]).save(b)  # the same bytes under another name
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), (90, 90, 90)).save(blank)
    calls = []
    monkeypatch.setattr(landmark_store, "detect", lambda p: calls.append(p) or (None if "blank" in p else face(0)[1]))
    import hashlib

    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
    found = landmark_store.find_landmarks([str(a), str(b), str(blank)], digest, tmp_path / "cache", workers=0)
    assert found[str(blank)] is None and found[str(a)].shape == (68, 2) and np.array_equal(found[str(a)], found[str(b)])
    assert len(calls) == 2  # one search per content
    again = landmark_store.find_landmarks([str(a), str(blank)], digest, tmp_path / "cache", workers=0)
    assert len(calls) == 2 and again[str(blank)] is None  # remembered, "no face" included
    prepared = make_face_videos(tmp_path / "prepared", {"Real": (0, 0, 0)}, videos=1, frames=3)
    frames = sorted(str(p) for p in (prepared / "Real").rglob("*.png"))
    marks = np.load(prepared / "Real" / "real_000" / "landmarks.npy")
    read = landmark_store.find_landmarks(frames, digest, None, workers=0)
    assert len(calls) == 2 and all(np.array_equal(read[f], m) for f, m in zip(frames, marks))


BASE = "name: g\ndata: {real: Real}\ndetectors: {pixel-cnn: {}}\n"


@pytest.mark.parametrize("text, message", [
    ("pairings: [{train: sbi, test: [sbi]}]\ngenerators: {sbi: {}}",
     "pairings[0].test names the generator 'sbi': pseudo-fakes are a training set only"),
    ("pairings: [{train: sbi, test: [Fake]}]\ngenerators: [1]", "'generators[0]' must be a non-empty name"),
    ("pairings: [{train: sbi, test: [Fake]}]\ngenerators: {sbi: 3}", "'generators.sbi' must be a mapping of options"),
    ("pairings: [{train: sbi, test: [Fake]}]\ngenerators: {Real: {}}", "has the name of a real class"),
])
def test_the_generators_section_is_checked(text, message):
    import yaml

    with pytest.raises(BenchmarkError, match=re.escape(message)):
        parse_suite(yaml.safe_load(BASE + text), source="s.yaml")


def test_a_registered_generator_name_is_a_training_set_and_its_options_are_checked():
    import yaml

    from benchmark.pseudo.resolve import resolve_generators

    suite = parse_suite(yaml.safe_load(BASE + "pairings: [{train: sbi, test: [Fake]}, {train: Fake, test: [Fake]}]"))
    assert suite.generators == {} and "sbi" in suite.classes
    suite = suite.with_generators({"sbi", "blended"})
    assert dict(suite.generators) == {"sbi": {}} and suite.classes == ("Fake",) and suite.raw["generators"] == {"sbi": {}}
    found = resolve_generators(suite, plugins.collect())
    assert found["sbi"].per_image == 1 and found["sbi"].identity["use"] == "sbi"
    for options, message in [({"per_image": 0}, "generators.sbi.per_image must be a whole number 1..100"),
                             ({"strength": 2}, "unknown option 'generators.sbi.strength'"),
                             ({"use": "sbj"}, "unknown generator 'sbj'; did you mean 'sbi'?")]:
        bad = parse_suite(yaml.safe_load(BASE + "pairings: [{train: sbi, test: [Fake]}]"), source="s.yaml")
        bad = parse_suite({**bad.raw, "generators": {"sbi": options}}, source="s.yaml")
        with pytest.raises(BenchmarkError, match=message):
            resolve_generators(bad, plugins.collect())


def test_generate_writes_example_blends_beside_their_masks(tmp_path, capsys):
    data = make_face_videos(tmp_path / "data", {"Real": (0, 0, 0)}, videos=3, frames=1)
    frames = sorted(str(p) for p in (data / "Real").rglob("*.png"))
    code, out, err = run_main(capsys, "generate", "sbi", *frames, "--out", str(tmp_path / "out"), "--count", "2")
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "sbi.png" in written and len([n for n in written if n.endswith("_fake.png")]) == 6
    assert len([n for n in written if n.endswith("_mask.png")]) == 6
    again = tmp_path / "again"
    assert run_main(capsys, "generate", "sbi", *frames, "--out", str(again), "--count", "2")[0] == 0
    for name in written:
        if name.endswith("_fake.png"):  # the same seed gives the same blends
            assert (tmp_path / "out" / name).read_bytes() == (again / name).read_bytes()
    code, out, err = run_main(capsys, "generate", "blended", *frames, "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert_refused(run_main(capsys, "generate", "sbj", *frames, "--out", str(tmp_path / "x")),
                   "unknown generator 'sbj'", tmp_path / "x")


def test_validate_checks_generators_with_and_without_data(tmp_path, capsys):
    data = make_face_videos(tmp_path / "data", {"Real": (0, 0, 0), "Fake": (40, 0, 0)}, videos=8, frames=1, size=32)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: v\ndata: {real: Real}\npairings: [{train: sbi, test: [Fake]}]\n"
                     "detectors: {pixel-cnn: {}}\n")
    code, out, err = run_main(capsys, "validate", suite, "--data-dir", data, "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    assert "generators:\n  sbi: {}" in out  # the registered name became a generator at its defaults
    assert_refused(run_main(capsys, "validate", suite, "--set", "generators.sbi.strength=1"),
                   "unknown option 'generators.sbi.strength'")
