"""`shortcut-probe`: a deliberately dumb detector that never looks at a face.

It sees only file and low-level facts — format, width, height, bytes per pixel, JPEG quantisation
table sums and chroma subsampling, and three global statistics of the grey image (log Laplacian
variance, high-pass energy, a noise estimate) — and fits a logistic regression on them. It answers
"could a detector score this cell without looking at the face?": where it does as well as a real
detector, that detector's number says nothing about faces.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, ImageFilter, JpegImagePlugin

from benchmark.detector import Detector, FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl

FEATURES = ("is_jpeg", "is_png", "log_width", "log_height", "log_bytes_per_pixel", "jpeg_luma_q", "jpeg_chroma_q",
            "jpeg_subsampling", "log_laplacian_var", "log_highpass_energy", "log_noise")
CROP = 256  # statistics on a central crop at native resolution: resizing would change sharpness


def file_facts(path: str) -> np.ndarray:
    """The FEATURES of one file."""
    with Image.open(path) as img:
        fmt, width, height = img.format, img.width, img.height
        tables = getattr(img, "quantization", None) or {}
        sampling = JpegImagePlugin.get_sampling(img) if fmt == "JPEG" else -1
        grey = img.convert("L")
    left, top = max(0, (width - CROP) // 2), max(0, (height - CROP) // 2)
    grey = grey.crop((left, top, left + min(width, CROP), top + min(height, CROP)))
    pixels = np.asarray(grey, dtype=np.float64)
    laplacian = np.asarray(grey.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], 1, 128)),
                           dtype=np.float64) - 128
    blurred = np.asarray(grey.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64)
    highpass = pixels - blurred
    return np.array([
        fmt == "JPEG", fmt == "PNG", math.log(width), math.log(height),
        math.log(os.path.getsize(path) / (width * height)),
        sum(tables.get(0, [])), sum(tables.get(1, [])), sampling,
        math.log(laplacian.var() + 1e-6), math.log((highpass ** 2).mean() + 1e-6),
        math.log(np.median(np.abs(highpass)) + 1e-6),
    ], dtype=np.float64)


class ShortcutProbe(Detector):
    def __init__(self, c: float = 1.0, threads: int = 4):
        check_range("c", c, 0, inclusive=False)
        check_range("threads", threads, 1)
        self.c = float(c)
        self.threads = threads
        self.mean = self.scale = self.coef = self.intercept = None

    def _facts(self, samples: Samples) -> np.ndarray:
        with ThreadPoolExecutor(self.threads) as pool:  # PIL decodes without the GIL
            return np.stack(list(pool.map(file_facts, samples.paths)))

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        x = self._facts(train)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0  # a constant fact (e.g. every file a PNG) carries no signal
        from sklearn.linear_model import LogisticRegression  # here: sklearn costs half a second to import

        model = LogisticRegression(C=self.c, max_iter=2000).fit((x - mean) / scale, train.labels)
        self.mean, self.scale = torch.from_numpy(mean), torch.from_numpy(scale)
        self.coef, self.intercept = torch.from_numpy(model.coef_[0].copy()), torch.tensor(float(model.intercept_[0]))
        ctx.log("shortcut-probe weights: " + ", ".join(f"{n}={w:+.2f}" for n, w in zip(FEATURES, model.coef_[0])))
        ctx.save_checkpoint(1, {})

    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        x = (torch.from_numpy(self._facts(samples)) - self.mean) / self.scale
        return torch.sigmoid(x @ self.coef + self.intercept.double()).numpy()

    def state_dict(self) -> dict:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept,
                "features": list(FEATURES)}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.scale, self.coef, self.intercept = (state[k] for k in ("mean", "scale", "coef", "intercept"))


@hookimpl
def register_detectors(register):
    register("shortcut-probe", ShortcutProbe)
