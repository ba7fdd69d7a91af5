"""Faces, the FaceForensics++ reference way: dlib's HOG frontal face detector (no model file), the
largest face, a square box ``scale`` times its size around its centre, clipped to the frame, resized.
Face finders sit behind one small interface so others (RetinaFace, MTCNN) can come as plugins."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom


class FaceFinder(Protocol):
    def __call__(self, rgb: np.ndarray) -> list[Box]:
        """Every face box in an RGB uint8 frame."""


class DlibHog:
    """dlib's frontal face detector (HOG + linear SVM), one upsampling pass, as FF++'s scripts use."""

    def __init__(self, upsample: int = 1):
        try:
            import dlib
        except ImportError:
            from benchmark.errors import BenchmarkError

            raise BenchmarkError("--faces needs dlib: pip install dlib-bin (a prebuilt wheel, no compiler)") from None
        self.detector = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in self.detector(rgb, self.upsample)]


def crop_face(rgb: np.ndarray, boxes: list[Box], size: int, scale: float) -> np.ndarray | None:
    """The largest face, a square of ``scale`` x its longer side around its centre, clipped to the
    frame, resized to ``size`` x ``size``; None when there is no face."""
    if not boxes:
        return None
    left, top, right, bottom = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    side = max(right - left, bottom - top) * scale
    cx, cy = (left + right) / 2, (top + bottom) / 2
    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(width, int(round(cx + side / 2))), min(height, int(round(cy + side / 2)))
    crop = Image.fromarray(rgb[y0:y1, x0:x1])
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))
