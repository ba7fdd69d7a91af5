"""The field's training augmentations for fine-tuned face-forgery detectors, with DeepfakeBench's
defaults (training/config/detector/*.yaml: flip 0.5, rotate +-10 degrees, Gaussian blur 3-7 px,
brightness/contrast +-0.1, JPEG quality 40-100), each switched off by a probability of 0.

Every random draw goes through torch's global RNG, which the harness seeds per (pass, image): the
same augmented pixels with any number of decoding workers, and after a resume.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from PIL import Image

BLUR_KERNELS = (3, 5, 7)  # DeepfakeBench's blur_limit [3, 7]: odd kernel sides


@dataclass(frozen=True)
class Augmentations:
    hflip: float = 0.5  # probability of each
    rotate: float = 0.5
    rotate_degrees: float = 10.0
    blur: float = 0.5
    brightness_contrast: float = 0.5
    brightness_contrast_limit: float = 0.1
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 100)


def _happens(probability: float) -> bool:
    return probability > 0 and float(torch.rand(())) < probability


class RandomGaussianBlur:
    """Gaussian blur with an odd kernel drawn from 3, 5, 7 and OpenCV's sigma for that kernel
    (0.3 * ((k - 1) / 2 - 1) + 0.8), as albumentations' GaussianBlur does by default."""

    def __init__(self, probability: float):
        self.probability = probability

    def __call__(self, image: Image.Image) -> Image.Image:
        if not _happens(self.probability):
            return image
        from torchvision.transforms import functional

        kernel = BLUR_KERNELS[int(torch.randint(len(BLUR_KERNELS), ()))]
        sigma = 0.3 * ((kernel - 1) / 2 - 1) + 0.8
        return functional.gaussian_blur(image, [kernel, kernel], [sigma, sigma])


class RandomJPEG:
    """Re-encode as JPEG at a quality drawn uniformly from [low, high] (compression artefacts are the
    commonest nuisance a forgery detector meets)."""

    def __init__(self, probability: float, quality: tuple[int, int]):
        self.probability = probability
        self.low, self.high = quality

    def __call__(self, image: Image.Image) -> Image.Image:
        if not _happens(self.probability):
            return image
        quality = int(torch.randint(self.low, self.high + 1, ()))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")


def eval_transform(size: int, mean, std):
    """Resize to size x size, then the backbone's own normalisation."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                               transforms.Normalize(list(mean), list(std))])


def train_transform(size: int, mean, std, augment: Augmentations):
    """Resize, then flip, rotate, blur, brightness/contrast and JPEG (each with its probability),
    then the backbone's normalisation."""
    from torchvision import transforms

    steps = [transforms.Resize((size, size))]
    if augment.hflip > 0:
        steps.append(transforms.RandomHorizontalFlip(augment.hflip))
    if augment.rotate > 0:
        steps.append(transforms.RandomApply([transforms.RandomRotation(augment.rotate_degrees)], augment.rotate))
    if augment.blur > 0:
        steps.append(RandomGaussianBlur(augment.blur))
    if augment.brightness_contrast > 0:
        limit = augment.brightness_contrast_limit
        steps.append(transforms.RandomApply([transforms.ColorJitter(brightness=limit, contrast=limit)],
                                            augment.brightness_contrast))
    if augment.jpeg > 0:
        steps.append(RandomJPEG(augment.jpeg, augment.jpeg_quality))
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(list(mean), list(std))])
