"""`benchmark prepare`: videos the tests encode themselves (each frame's grey level is its index, so
which frames were sampled can be read back), face finding behind its interface, bad videos, resume."""

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from benchmark.prepare.faces import DlibHog, crop_face
from benchmark.prepare.frames import Video
from benchmark.prepare.videos import Job, Settings, prepare_video

from conftest import assert_refused, run_main

STEP = 5  # grey level per frame index


def make_clip(path: Path, frames: int, size=(48, 64), faces=lambda i: False, gop: int = 10, rate: int = 25,
              tag: int = 0) -> Path:
    """H.264 clip whose frame i is grey level i * STEP, with a bright square where faces(i) and a
    corner patch of level ``tag`` (so two clips never share a frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = size
        stream.pix_fmt, stream.options = "yuv420p", {"g": str(gop), "crf": "10"}
        for i in range(frames):
            image = np.full((*size, 3), i * STEP % 250, np.uint8)
            if faces(i):
                image[8:32, 16:40] = 255
            image[:8, 48:] = tag
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bright_square(rgb):
    """A stand-in face finder: the bright square the clip draws is the face."""
    return [(16, 8, 40, 32)] if rgb[8:32, 16:40].mean() > 240 else []


def index_of_array(rgb) -> int:
    """Which frame this is: its grey level (bottom-left corner, away from the square and the tag)."""
    return int(round(rgb[40:, :8].mean() / STEP))


def index_of(png: Path) -> int:
    return index_of_array(np.asarray(Image.open(png)))


def test_frames_are_evenly_spaced_over_the_whole_video(tmp_path):
    clip = make_clip(tmp_path / "A" / "v.mp4", 47)
    with Video(clip) as video:
        assert len(video) == 47
        assert index_of_array(video.frame(33)) == 33  # seeking lands on the exact frame, not its keyframe
    record = prepare_video(Job(clip, tmp_path / "out" / "v", "A"), Settings(frames=8))
    written = sorted((tmp_path / "out" / "v").glob("*.png"))
    assert [index_of(p) for p in written] == [0, 7, 13, 20, 26, 33, 39, 46]
    assert record["frames_written"] == 8 and record["frames_decoded"] == 8 and record["failure"] is None


def test_a_clip_shorter_than_n_gives_all_its_frames(tmp_path):
    clip = make_clip(tmp_path / "short.mp4", 5)
    record = prepare_video(Job(clip, tmp_path / "out" / "short", "A"), Settings(frames=8))
    assert record["frames_written"] == 5 and record["frames_in_video"] == 5
    assert [index_of(p) for p in sorted((tmp_path / "out" / "short").glob("*.png"))] == [0, 1, 2, 3, 4]


def test_a_frame_without_a_face_is_replaced_by_its_nearest_neighbour_with_one(tmp_path):
    clip = make_clip(tmp_path / "f.mp4", 30, faces=lambda i: i % 4 != 0)  # 0, 4, 8, ... have no face
    record = prepare_video(Job(clip, tmp_path / "out" / "f", "A"), Settings(frames=4, faces=True, size=32),
                           finder=bright_square)
    # evenly spaced: 0, 10, 19, 29 -> 0 has no face: its nearest unused neighbour with one is 1
    written = sorted((tmp_path / "out" / "f").glob("*.png"))
    assert len(written) == 4 and record["replaced_no_face"] == 1 and record["faces_found"] >= 4
    assert all(Image.open(p).size == (32, 32) for p in written)
    assert json.loads((tmp_path / "out" / "f" / "video.json").read_text())["frames_written"] == 4


def test_a_video_without_any_face_is_a_listed_failure_and_writes_nothing(tmp_path):
    clip = make_clip(tmp_path / "none.mp4", 12)
    record = prepare_video(Job(clip, tmp_path / "out" / "none", "A"), Settings(frames=4, faces=True),
                           finder=bright_square)
    assert record["failure"] == "no face in any of its 12 frames" and not (tmp_path / "out" / "none").exists()


def test_crop_is_the_largest_face_enlarged_and_clipped():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[40:60, 40:60] = 200
    crop = crop_face(rgb, [(0, 0, 10, 10), (40, 40, 60, 60)], size=16, scale=1.5)
    assert crop.shape == (16, 16, 3) and crop[8, 8, 0] == 200 and crop[0, 0, 0] == 0  # centred, with margin
    assert crop_face(rgb, [], 16, 1.3) is None
    assert DlibHog()(np.zeros((64, 64, 3), np.uint8)) == []  # the real detector runs (no model file)


def test_cli_accounts_for_every_video_survives_bad_ones_and_resumes(tmp_path, capsys):
    src, dest = tmp_path / "videos", tmp_path / "frames"
    for i in range(3):
        make_clip(src / "Real" / f"r{i}.mp4", 20 + i)
        make_clip(src / "Fake" / f"f{i}.mp4", 20 + i)
    (src / "Fake" / "empty.mp4").write_bytes(b"")
    (src / "Fake" / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    code, out, err = run_main(capsys, "prepare", "videos", src, dest, "--frames", "6", "--workers", "0")
    assert code == 0, err
    summary = json.loads((dest / "prepare.json").read_text())
    assert summary["totals"]["videos"] == 8 and summary["totals"]["prepared"] == 6 and summary["totals"]["failed"] == 2
    failures = {Path(r["source"]).name: r["failure"] for r in summary["videos"] if r["failure"]}
    assert failures["empty.mp4"] == "empty file" and failures["garbage.mp4"].startswith("cannot open")
    assert "garbage.mp4" in out and summary["parameters"]["frames"] == 6
    manifest = (dest / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "path,class,video" and len(manifest) == 1 + 6 * 6
    # a kill mid-video leaves a .partial folder: the rerun removes it and redoes only that video
    (dest / "Real" / "r1").rename(dest / "Real" / "r1.partial")
    code, out, err = run_main(capsys, "prepare", "videos", src, dest, "--frames", "6", "--workers", "0")
    assert code == 0, err
    totals = json.loads((dest / "prepare.json").read_text())["totals"]
    assert totals["skipped_as_done"] == 5 and totals["prepared"] == 6
    assert not (dest / "Real" / "r1.partial").exists() and len(list((dest / "Real" / "r1").glob("*.png"))) == 6


def test_prepared_frames_run_as_a_study_and_meta_records_the_provenance(tmp_path, capsys, tiny_backbone):
    src, dest = tmp_path / "videos", tmp_path / "frames"
    for cls, tint in (("Real", 0), ("FaceSwap", 1)):
        for i in range(10):
            make_clip(src / cls / f"{cls}{i}.mp4", 9 + tint * 4 + i % 3, tag=20 + 10 * i + 100 * tint)
    assert run_main(capsys, "prepare", "videos", src, dest, "--frames", "3", "--workers", "0")[0] == 0
    suite = tmp_path / "s.yaml"
    suite.write_text("name: prepared\ndata: {real: Real}\npairings: [{train: FaceSwap, test: [FaceSwap]}]\n"
                     "detectors: {shortcut-probe: {}}\nreport: {bootstrap: 20}\n")
    code, _, err = run_main(capsys, "run", suite, "--data-dir", dest, "--output-dir", tmp_path / "run", "--workers", "0")
    assert code == 0, err
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["prepare"][0]["parameters"]["frames"] == 3 and meta["prepare"][0]["totals"]["prepared"] == 20


def test_no_videos_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert_refused(run_main(capsys, "prepare", "videos", tmp_path / "empty", tmp_path / "out"), "no videos found in")


def test_decoded_frames_are_contiguous_rgb():
    """PyAV pads rows (here 150 bytes -> aligned); dlib silently misreads padded arrays."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "odd.mp4", 4, size=(48, 50))
        with Video(clip) as video:
            frame = video.frame(2)
    assert frame.shape == (48, 50, 3) and frame.flags["C_CONTIGUOUS"] and index_of_array(frame) == 2


@pytest.mark.parametrize("rate", [10, 30])
def test_frame_count_does_not_come_from_metadata(tmp_path, rate):
    clip = make_clip(tmp_path / "r.mp4", 23, rate=rate, gop=7)
    with Video(clip) as video:
        assert len(video) == 23 and index_of_array(video.frame(22)) == 22


def test_prepare_ffpp_writes_the_tree_the_ffpp_layout_reads(tmp_path, capsys, tiny_backbone):
    """original_sequences/youtube/c23/videos/000.mp4 -> .../frames/000/, in parallel workers, then a run."""
    root = tmp_path / "FaceForensics++"
    for i, (a, b) in enumerate([("000", "003"), ("001", "004"), ("002", "005"), ("006", "007"), ("008", "009")]):
        make_clip(root / "original_sequences/youtube/c23/videos" / f"{a}.mp4", 8, tag=10 + 12 * i)
        make_clip(root / "manipulated_sequences/FaceSwap/c23/videos" / f"{a}_{b}.mp4", 8, tag=16 + 12 * i)
    code, out, err = run_main(capsys, "prepare", "ffpp", root, "--frames", "4", "--workers", "2")
    assert code == 0, err
    assert "10 videos: 10 prepared" in out
    assert len(list((root / "original_sequences/youtube/c23/frames/000").glob("*.png"))) == 4
    assert len(list((root / "manipulated_sequences/FaceSwap/c23/frames/000_003").glob("*.png"))) == 4
    summary = json.loads((root / "prepare.json").read_text())
    assert summary["parameters"]["dataset"] == "ffpp" and summary["parameters"]["frames"] == 4
    suite = tmp_path / "s.yaml"
    suite.write_text("name: ff\ndata: {layout: ffpp, real: Real_youtube, split: {train: 0.6, val: 0.2, test: 0.2}}\n"
                     "pairings: [{train: FaceSwap, test: [FaceSwap]}]\ndetectors: {shortcut-probe: {}}\n"
                     "report: {bootstrap: 0}\n")
    code, _, err = run_main(capsys, "run", suite, "--data-dir", root, "--output-dir", tmp_path / "run", "--workers", "0")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["prepare"][0]["totals"]["frames_written"] == 40


SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "Real"


@pytest.mark.skipif(not SHARED_FACES.is_dir(), reason="needs ../shared/data/faces (real photos; not in the repo)")
def test_dlib_finds_real_faces_in_a_video_of_photos(tmp_path):
    """The real detector on real faces, through PyAV's padded frames (600 px rows are padded)."""
    photos = sorted(SHARED_FACES.glob("*.jpg"))[:12]
    clip = tmp_path / "faces.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 600
        stream.pix_fmt = "yuv420p"
        for photo in photos:
            image = np.asarray(Image.open(photo).convert("RGB").resize((600, 600)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    record = prepare_video(Job(clip, tmp_path / "out" / "faces", "Real"), Settings(frames=8, faces=True, size=128))
    assert record["frames_written"] == 8 and record["faces_found"] >= 8
    assert record["faces_found"] / record["frames_decoded"] >= 0.75
