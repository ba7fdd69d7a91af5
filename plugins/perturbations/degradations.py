"""The field's test-time degradations (GenD, UnivFD, AIGCDetectBenchmark): JPEG recompression, Gaussian
blur, down- and up-scaling, additive Gaussian noise."""

import io

import numpy as np
from PIL import Image, ImageFilter

from benchmark.hookspecs import hookimpl
from benchmark.perturbations import PerturbationKind


def jpeg(image: Image.Image, quality: float, rng) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def blur(image: Image.Image, sigma: float, rng) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


def resize(image: Image.Image, factor: float, rng) -> Image.Image:
    """Down to ``factor`` of the size (bilinear, antialiased), then back up: detail is lost, size kept."""
    small = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(small, Image.Resampling.BILINEAR).resize(image.size, Image.Resampling.BILINEAR)


def noise(image: Image.Image, std: float, rng) -> Image.Image:
    """Additive Gaussian noise, ``std`` as a fraction of the 0..255 range."""
    array = np.asarray(image, dtype=np.float32) + rng.normal(0, std * 255, (image.height, image.width, 3))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _between(low, high, what):
    def check(value):
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low:g} and {high:g}")
    return check


@hookimpl
def register_perturbations(register):
    register(PerturbationKind("jpeg", jpeg, _between(1, 100, "JPEG quality"), worse_when="lower"))
    register(PerturbationKind("blur", blur, _between(0.01, 20, "the blur sigma (pixels)")))
    register(PerturbationKind("resize", resize, _between(0.01, 1, "the scale factor"), worse_when="lower"))
    register(PerturbationKind("noise", noise, _between(0.0001, 1, "the noise std (fraction of 255)")))
