"""Out of one opened video: N evenly spaced frames, or N faces (each the largest face of its frame,
a square box crop or DeepfakeBench's aligned crop, with its 68 landmarks when asked). Every sampled
frame that gives no face is listed with its reason, and replaced by its nearest unused neighbour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from benchmark.data.splits import evenly_spaced
from benchmark.prepare.faces import crop_window, largest, make_finder
from benchmark.prepare.frames import Video


@dataclass(frozen=True)
class Settings:
    frames: int = 32
    faces: bool = False
    size: int = 256
    scale: float = 1.3
    detector: str = "hog"
    detect_size: int | None = None
    landmarks: bool = False  # dlib's 68 points per face, saved as landmarks.npy
    align: bool = False  # 5-point similarity alignment (DeepfakeBench) instead of the square box


_TOOLS: dict = {}  # per process: (detector, detect_size, landmarks) -> (finder, landmarker); models load once


def tools(settings: Settings, finder=None):
    key = (settings.detector, settings.detect_size, settings.landmarks or settings.align)
    if key not in _TOOLS:
        from benchmark.prepare.landmarks import Landmarks68

        _TOOLS[key] = (make_finder(settings.detector, settings.detect_size), Landmarks68() if key[2] else None)
    found, landmarker = _TOOLS[key]
    return finder or found, landmarker


def frames(video: Video, settings: Settings, record: dict) -> tuple[list, list]:
    out = []
    for index in evenly_spaced(list(range(len(video))), settings.frames):
        out.append(video.frame(index))
        record["frames_decoded"] += 1
    return out, []


def face_of(rgb: np.ndarray, settings: Settings, finder, landmarker):
    """(crop, landmarks in the crop or None), or (None, why there is none)."""
    box = largest(finder(rgb))
    if box is None:
        return None, "no face"
    points = landmarker(rgb, box) if landmarker is not None else None
    if settings.align:
        from benchmark.prepare.landmarks import align

        aligned = align(rgb, points, settings.size, settings.scale)
        return aligned if aligned is not None else (None, "landmarks too degenerate to align")
    window = crop_window(rgb.shape, box, settings.scale)
    x0, y0, x1, y1 = window
    crop = np.asarray(Image.fromarray(rgb[y0:y1, x0:x1]).resize((settings.size,) * 2, Image.Resampling.BICUBIC))
    if points is not None:
        from benchmark.prepare.landmarks import transform, window_transform

        points = transform(points, window_transform(window, settings.size))
    return crop, points


def faces(video: Video, settings: Settings, record: dict, finder=None) -> tuple[list, list]:
    """(face crops in time order, their landmarks); a sampled frame without a face is listed in
    ``record["dropped"]`` and replaced by the nearest frame (either side) that has one and is not
    used yet, so a video yields N faces unless it runs out of frames with faces."""
    finder, landmarker = tools(settings, finder)
    total, seen, used = len(video), {}, set()

    def face_at(index):
        if index not in seen:
            rgb = video.frame(index)
            record["frames_decoded"] += 1
            crop, extra = face_of(rgb, settings, finder, landmarker)
            seen[index] = (crop, extra) if crop is not None else None
            if crop is None:
                record["dropped"].append({"frame": index, "reason": extra})
            record["faces_found"] += crop is not None
        return seen[index]

    for wanted in evenly_spaced(list(range(total)), settings.frames):
        found = None
        for distance in range(total):
            candidates = [wanted] if distance == 0 else [wanted + distance, wanted - distance]
            found = next((i for i in candidates if 0 <= i < total and i not in used and face_at(i) is not None), None)
            if found is not None:
                break
        if found is None:
            break  # the whole video was searched: no unused frame with a face is left
        used.add(found)
        record["replaced_no_face"] += found != wanted
    kept = [seen[i] for i in sorted(used)]  # in time order
    record["frames_used"] = sorted(used)
    return [crop for crop, _ in kept], [points for _, points in kept if points is not None]
