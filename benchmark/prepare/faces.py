"""Faces: dlib's HOG frontal face detector (no model file; the FaceForensics++ reference) or its MMOD
CNN detector (the model file from face-recognition-models), optionally run on a downscaled frame;
the largest face; a square box ``scale`` times its size around its centre, clipped, resized.
Face finders sit behind one small interface so others (RetinaFace, MTCNN) can come as plugins."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

from benchmark.errors import BenchmarkError

Box = tuple[int, int, int, int]  # left, top, right, bottom
DETECTORS = ("hog", "cnn")


class FaceFinder(Protocol):
    def __call__(self, rgb: np.ndarray) -> list[Box]:
        """Every face box in an RGB uint8 frame."""


def _dlib():
    try:
        import dlib
    except ImportError:
        raise BenchmarkError("--faces needs dlib: pip install dlib-bin (a prebuilt wheel, no compiler)") from None
    return dlib


class DlibHog:
    """dlib's frontal face detector (HOG + linear SVM), one upsampling pass, as FF++'s scripts use."""

    def __init__(self, upsample: int = 1):
        self.detector = _dlib().get_frontal_face_detector()
        self.upsample = upsample

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in self.detector(rgb, self.upsample)]


class DlibCnn:
    """dlib's MMOD CNN face detector: finds more profile and dark faces than HOG, much slower on a CPU.
    No upsampling by default: it finds faces of ~80 px and up as they are, and one upsampling pass
    (4x the pixels) made it take ~15 s per 600 px frame on one core here."""

    def __init__(self, upsample: int = 0):
        from benchmark.prepare.landmarks import model_file

        self.path = model_file("cnn")
        self.detector = _dlib().cnn_face_detection_model_v1(str(self.path))
        self.upsample = upsample

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        return [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in self.detector(rgb, self.upsample)]


class Downscaled:
    """Detect on the frame shrunk so its longer side is ``size`` px, and map the boxes back (a 600 px
    frame searched at 300 px finds the same faces ~3x faster: HOG's cost grows with the pixels)."""

    def __init__(self, finder: FaceFinder, size: int):
        self.finder, self.size = finder, size

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        height, width = rgb.shape[:2]
        factor = self.size / max(height, width)
        if factor >= 1:
            return self.finder(rgb)
        small = np.asarray(Image.fromarray(rgb).resize((max(1, round(width * factor)), max(1, round(height * factor))),
                                                       Image.Resampling.BILINEAR))
        return [tuple(int(round(v / factor)) for v in box) for box in self.finder(small)]


def make_finder(detector: str = "hog", detect_size: int | None = None) -> FaceFinder:
    if detector not in DETECTORS:
        raise BenchmarkError(f"--detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    finder = DlibHog() if detector == "hog" else DlibCnn()
    return Downscaled(finder, detect_size) if detect_size else finder


def largest(boxes: list[Box]) -> Box | None:
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if boxes else None


def crop_window(shape, box: Box, scale: float) -> Box:
    """The square of ``scale`` x the box's longer side around its centre, clipped to the frame."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * scale
    cx, cy = (left + right) / 2, (top + bottom) / 2
    height, width = shape[:2]
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(width, int(round(cx + side / 2))), min(height, int(round(cy + side / 2)))
    return x0, y0, x1, y1


def crop_face(rgb: np.ndarray, boxes: list[Box], size: int, scale: float) -> np.ndarray | None:
    """The largest face's :func:`crop_window` resized to ``size`` x ``size``; None when there is no face."""
    box = largest(boxes)
    if box is None:
        return None
    x0, y0, x1, y1 = crop_window(rgb.shape, box, scale)
    return np.asarray(Image.fromarray(rgb[y0:y1, x0:x1]).resize((size, size), Image.Resampling.BICUBIC))
