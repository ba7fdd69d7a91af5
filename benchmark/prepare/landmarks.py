"""Face landmarks and alignment: dlib's 68-point shape predictor (the model file ships in the
``face-recognition-models`` package, the ``[faces]`` extra) and DeepfakeBench's crop, a 5-point
similarity alignment to the ArcFace template enlarged by ``scale`` and resized to ``size``.

This module is what pseudo-fake generators (SBI's landmark masks) read as well: landmarks are
(68, 2) float32 arrays of (x, y) pixels in the saved face crop, saved per video as
``landmarks.npy`` (frames, 68, 2) in the order of the frame files.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import BenchmarkError

FACES_EXTRA = "pip install 'forgery-benchmark[faces]' (or: pip install face-recognition-models)"

# DeepfakeBench's five key points out of dlib's 68 (preprocess.py get_keypts): a point on each upper
# eyelid, the nose tip and two points beside the mouth corners. Kept as it is so that aligned crops
# match the faces the published numbers were measured on.
FIVE_POINTS = (37, 44, 30, 49, 55)
# ArcFace's 112 x 112 template (x shifted by 8 as DeepfakeBench does for a square crop)
TEMPLATE = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                     [33.5493, 92.3655], [62.7299, 92.2041]], np.float64) + (8.0, 0.0)


MODEL_FILES = {"68": "shape_predictor_68_face_landmarks.dat", "5": "shape_predictor_5_face_landmarks.dat",
               "cnn": "mmod_human_face_detector.dat"}


def model_file(kind: str = "68") -> Path:
    """The dlib model file from face-recognition-models: ``68`` or ``5`` landmarks, ``cnn`` detector.
    Found without importing the package (its ``__init__`` needs pkg_resources, gone from new setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    path = Path(next(iter(spec.submodule_search_locations or [""]))) / "models" / MODEL_FILES[kind] if spec else None
    if path is None or not path.is_file():
        raise BenchmarkError(f"landmarks, --align and --detector cnn need dlib's model files: {FACES_EXTRA}")
    return path


@lru_cache(maxsize=None)
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Landmarks68:
    """dlib's 68-point shape predictor, given the face box a detector found."""

    def __init__(self):
        import dlib

        self.path = model_file("68")
        self.predictor = dlib.shape_predictor(str(self.path))
        self._rectangle = dlib.rectangle

    def __call__(self, rgb: np.ndarray, box) -> np.ndarray:
        shape = self.predictor(rgb, self._rectangle(*(int(v) for v in box)))
        return np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], np.float32)

    def describe(self) -> dict:
        return {"model": self.path.name, "sha256": sha256(self.path), "points": 68}


def template(size: int, scale: float) -> np.ndarray:
    """The five template points in a ``size`` px crop whose face is ``scale`` x the template's box."""
    points = TEMPLATE * (size / 112.0)
    margin = size * (scale - 1) / 2.0
    return (points + margin) * (size / (size + 2 * margin))


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """The least-squares similarity transform (rotation, uniform scale, shift) taking ``source``
    points onto ``target`` (Umeyama 1991), as a 2 x 3 matrix; None for degenerate points."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    variance = (s ** 2).sum() / len(s)
    if not np.isfinite(variance) or variance < 1e-6:
        return None
    u, d, vt = np.linalg.svd(t.T @ s / len(s))
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ sign @ vt
    factor = np.trace(np.diag(d) @ sign) / variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = factor * rotation
    matrix[:, 2] = mu_t - factor * rotation @ mu_s
    return matrix


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def align(rgb: np.ndarray, landmarks: np.ndarray, size: int = 256, scale: float = 1.3):
    """(aligned ``size`` x ``size`` crop, the landmarks moved into it) or None when the five points
    are degenerate. The landmarks are carried over by the same transform, not detected again on the
    crop (DeepfakeBench detects again and crashes when that finds no face)."""
    matrix = similarity(landmarks[list(FIVE_POINTS)], template(size, scale))
    if matrix is None:
        return None
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]  # PIL maps output pixels back to input
    crop = Image.fromarray(rgb).transform((size, size), Image.Transform.AFFINE, tuple(inverse.ravel()),
                                          resample=Image.Resampling.BILINEAR)
    return np.asarray(crop), transform(landmarks, matrix)


def window_transform(window, size: int) -> np.ndarray:
    """The 2 x 3 matrix of resizing the crop ``window`` (x0, y0, x1, y1) of a frame to ``size`` x
    ``size`` (the square box crop of :func:`benchmark.prepare.faces.crop_window`), to carry
    landmarks into it."""
    x0, y0, x1, y1 = window
    return np.array([[size / max(1, x1 - x0), 0, -x0 * size / max(1, x1 - x0)],
                     [0, size / max(1, y1 - y0), -y0 * size / max(1, y1 - y0)]])


def folder_landmarks(folder: Path) -> dict[str, np.ndarray]:
    """frame name -> its (68, 2) landmarks for a folder `prepare --landmarks` wrote (landmarks.npy,
    row = the frame's place among the folder's .png files); empty for any other folder, or one
    edited since (the rows no longer match the frames: no trustworthy landmarks)."""
    saved = Path(folder) / "landmarks.npy"
    if not saved.is_file():
        return {}
    order = sorted(p.name for p in Path(folder).glob("*.png"))
    marks = np.load(saved)
    if len(order) != len(marks):
        return {}
    return dict(zip(order, marks))


def landmarks_of(frame: Path) -> np.ndarray | None:
    """The (68, 2) landmarks `prepare --landmarks` saved for one frame file, or None without them."""
    frame = Path(frame)
    return folder_landmarks(frame.parent).get(frame.name)
