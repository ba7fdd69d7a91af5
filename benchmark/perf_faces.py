"""`benchmark perf --faces DIR`: faces/s per worker of `benchmark prepare --faces` under each face
option (HOG at full size and on a downscaled frame, the CNN detector, landmarks, alignment), all on
the same clips: the photos of DIR/<real> made into 600 px videos, decoded by one worker."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.prepare.extract import Settings, tools
from benchmark.prepare.videos import Job, prepare_video

CONFIGS = {
    "hog": Settings(faces=True),
    "hog --detect-size 320": Settings(faces=True, detect_size=320),
    "hog --landmarks": Settings(faces=True, landmarks=True),
    "hog --align": Settings(faces=True, landmarks=True, align=True),
    "hog --detect-size 320 --align": Settings(faces=True, detect_size=320, landmarks=True, align=True),
    "cnn": Settings(faces=True, detector="cnn"),
    "cnn --detect-size 320": Settings(faces=True, detector="cnn", detect_size=320),
    "cnn --detect-size 320 --align": Settings(faces=True, detector="cnn", detect_size=320, landmarks=True, align=True),
}


def clips(photos: list[Path], folder: Path, per_clip: int, side: int = 600) -> list[Path]:
    import av
    import numpy as np
    from PIL import Image

    out = []
    for start in range(0, len(photos), per_clip):
        path = folder / f"clip{start // per_clip}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width = stream.height = side
            stream.pix_fmt = "yuv420p"
            for photo in photos[start:start + per_clip]:
                image = np.asarray(Image.open(photo).convert("RGB").resize((side, side)))
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        out.append(path)
    return out


def run_faces_perf(data_dir: str | None, real: str = "Real", limit: int | None = 40, frames: int = 10, log=print) -> dict:
    if not data_dir:
        raise BenchmarkError("perf --faces needs a folder of face photos, e.g. ../shared/data/faces "
                             "(generated images have no faces for dlib to find)")
    photos = sorted(p for p in (Path(data_dir) / real).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos = photos[:limit] if limit else photos
    if not photos:
        raise BenchmarkError(f"no photos in {Path(data_dir) / real}")
    figures = {"clips": f"{len(photos)} photos of {Path(data_dir) / real} as 600 px H.264 clips of {frames} frames",
               "per_worker": {}}
    with tempfile.TemporaryDirectory() as scratch:
        videos = clips(photos, Path(scratch), frames)
        prepare_video(Job(videos[0], Path(scratch) / "warm-up", "Real"), Settings(frames=frames, faces=True))
        for name, settings in CONFIGS.items():
            settings = Settings(**{**settings.__dict__, "frames": frames})
            tools(settings)  # models load once per worker process: not part of its per-face cost
            records = [prepare_video(Job(v, Path(scratch) / name.replace(" ", "_") / v.stem, "Real"), settings)
                       for v in videos]
            seconds = sum(r["seconds"] for r in records)
            found, decoded = sum(r["faces_found"] for r in records), sum(r["frames_decoded"] for r in records)
            figures["per_worker"][name] = {"faces_per_s": round(found / seconds, 2), "faces_found": found,
                                           "frames_decoded": decoded, "seconds": round(seconds, 2)}
            log(f"{name}: {figures['per_worker'][name]}")
    return figures
