"""Drawn faces for tests and `benchmark perf --generator` without data: prepared frame folders, each
with the ``landmarks.npy`` that `benchmark prepare --landmarks` writes, so no face detector is needed.
Cartoons, not faces: they exercise the machinery, they say nothing about detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def face_landmarks(size: int, shift=(0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """68 points laid out as dlib's (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)."""
    cx, cy = size / 2 + shift[0], size / 2 + shift[1]
    a, b = 0.36 * size * scale, 0.42 * size * scale
    jaw = [(cx + a * np.cos(t), cy + b * np.sin(t)) for t in np.linspace(np.pi, 0, 17)]
    brows = [(cx + a * x, cy - 0.45 * b) for x in np.r_[np.linspace(-0.8, -0.15, 5), np.linspace(0.15, 0.8, 5)]]
    nose = [(cx, cy - b * y) for y in np.linspace(0.35, -0.05, 4)] + [(cx + a * x, cy + 0.15 * b)
                                                                      for x in np.linspace(-0.2, 0.2, 5)]
    eyes = [(cx + side * 0.4 * a + 0.15 * a * np.cos(t), cy - 0.25 * b + 0.06 * b * np.sin(t))
            for side in (-1, 1) for t in np.linspace(np.pi, -np.pi, 6, endpoint=False)]
    mouth = [(cx + 0.35 * a * np.cos(t), cy + 0.45 * b + 0.12 * b * np.sin(t)) for t in np.linspace(np.pi, -np.pi, 12, endpoint=False)]
    mouth += [(cx + 0.2 * a * np.cos(t), cy + 0.45 * b + 0.05 * b * np.sin(t)) for t in np.linspace(np.pi, -np.pi, 8, endpoint=False)]
    points = np.array(jaw + brows + nose + eyes + mouth, np.float32)
    assert points.shape == (68, 2)
    return points


def draw_face(size: int, rng: np.random.Generator, landmarks: np.ndarray, tint=(0, 0, 0)) -> Image.Image:
    """A noisy background with a skin-coloured face, eyes and mouth where the landmarks say."""
    background = np.clip(rng.normal(110, 35, (size, size, 3)) + np.asarray(tint), 0, 255).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    x0, y0 = landmarks[:, 0].min(), landmarks[17:27, 1].min() - size * 0.1
    x1, y1 = landmarks[:, 0].max(), landmarks[:, 1].max()
    skin = tuple(int(v) for v in np.clip(np.array([200, 160, 130]) + rng.integers(-25, 25, 3), 0, 255))
    draw.ellipse([x0, y0, x1, y1], fill=skin)
    for eye in (landmarks[36:42], landmarks[42:48]):
        draw.polygon([tuple(p) for p in eye], fill=(40, 30, 30))
    draw.polygon([tuple(p) for p in landmarks[48:60]], fill=(150, 60, 60))
    return image


def make_face_videos(root: Path, classes: dict[str, tuple], videos: int = 8, frames: int = 2, size: int = 64,
                     seed: int = 0, landmarks: bool = True) -> Path:
    """<root>/<Class>/<video>/<frame>.png with landmarks.npy per video (as `prepare --landmarks` writes)."""
    rng = np.random.default_rng(seed)
    for cls, tint in classes.items():
        for v in range(videos):
            folder = root / cls / f"{cls.lower()}_{v:03d}"
            folder.mkdir(parents=True)
            marks = []
            for f in range(frames):
                points = face_landmarks(size, shift=rng.uniform(-3, 3, 2), scale=rng.uniform(0.9, 1.05))
                draw_face(size, rng, points, tint).save(folder / f"{f:04d}.png")
                marks.append(points)
            if landmarks:
                np.save(folder / "landmarks.npy", np.stack(marks))
    return root
