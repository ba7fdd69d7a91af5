"""Reading images: any mode PIL opens becomes 8-bit RGB, a check that a file decodes at all, and
parallel loaders for encoding and for pixel detectors."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from benchmark.errors import BenchmarkError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")



def natural_key(path: Path):
    """frame_2 before frame_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name)]


def load_rgb(path: str, draft_size: int | None = None) -> Image.Image:
    """Open ``path`` as 8-bit RGB whatever its mode (grayscale, palette, RGBA, CMYK, 16-bit, float).

    ``draft_size``: let libjpeg decode a JPEG at a reduced scale (1/2, 1/4, 1/8) that still covers
    this many pixels per side: several times faster for large JPEGs, slightly different pixels.
    """
    with Image.open(path) as img:
        if draft_size and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            # PIL's convert('RGB') clips these to 0..255; rescale by the type's range instead
            array = np.asarray(img, dtype=np.float64)
            top = 65535.0 if img.mode.startswith("I;16") or array.max() > 255 else 255.0
            img = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8))
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        return img.convert("RGB")


def image_problem(path: str) -> tuple[str, str, int, int]:
    """(problem, format, width, height) of one file: problem is "" when it decodes completely.

    A full decode (at reduced scale for JPEGs, which still reads every byte) finds truncated files;
    images beyond PIL's decompression-bomb limit count as unreadable rather than as a warning.
    """
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)", "unreadable", 0, 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                header = (img.format or "?", img.width, img.height)
                if img.format == "JPEG":
                    img.draft("RGB", (64, 64))
                img.load()
        return "", *header
    except Image.DecompressionBombError as e:
        return f"decompression bomb: {e}".split(" could be")[0], "unreadable", 0, 0
    except Image.DecompressionBombWarning as e:
        return f"decompression bomb: {str(e).split(' could be')[0]}", "unreadable", 0, 0
    except Exception as e:  # noqa: BLE001 - any failure to decode makes the file unreadable
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"{type(e).__name__}: {message}"[:200], "unreadable", 0, 0


class ImageFiles(torch.utils.data.Dataset):
    """Paths -> (tensor, index, error). A file that cannot be read is reported by the main process
    with its path instead of a worker traceback."""

    def __init__(self, paths: list[str], transform, draft_size: int | None = None, perturb=None, keys=None,
                 seed: int | None = None, made=None):
        self.paths = paths
        # pseudo-fakes (benchmark.pseudo.PseudoFakes): names it holds are generated here, in the worker,
        # from their source image; a fresh one draws on this pass's seed
        self.made = made
        # random augmentation draws from (seed, index), never from whichever process decodes the image:
        # the same numbers with any --workers, locally or on a Ray worker
        self.seed = seed
        self.transform = transform
        self.draft_size = draft_size
        self.perturb = perturb  # a test-time degradation, applied to the decoded RGB image
        self.keys = keys or paths  # what seeds the degradation's randomness per image (content digests when cached)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            path = self.paths[index]
            if self.made is not None and path in self.made:
                image = self.made.image(path, self.seed)
            else:
                image = load_rgb(path, self.draft_size)
            if self.perturb is not None:
                image = self.perturb(image, self.keys[index])
            if self.seed is None:
                return self.transform(image), index, ""
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed((self.seed + index) % 2**63)
                return self.transform(image), index, ""
        except Exception as e:  # noqa: BLE001 - any decode failure is reported with its path
            return None, index, f"{type(e).__name__}: {e}"


def _collate(batch):
    errors = [(i, err) for _, i, err in batch if err]
    if errors:
        return None, torch.tensor([i for _, i, _ in batch]), errors
    images = torch.stack([t for t, _, _ in batch])
    return images, torch.tensor([i for _, i, _ in batch]), []


def image_loader(paths, transform, batch_size: int, workers: int, pin_memory: bool = False,
                 draft_size: int | None = None, perturb=None, keys=None, made=None):
    """Batches of (images, indices, errors) in order, decoded by ``workers`` processes."""
    return torch.utils.data.DataLoader(
        ImageFiles(list(paths), transform, draft_size, perturb, keys, made=made),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        generator=torch.Generator(),  # leave the global RNG alone: training must not depend on encoding
        persistent_workers=False,
    )


def image_batches(paths, labels, transform, batch_size: int, shuffle: bool, generator: torch.Generator,
                  workers: int, perturb=None, pin_memory: bool = False, made=None):
    """(images, labels) batches for detectors that train on pixels; decoding runs in workers.
    ``generator`` lives as long as the training run: each shuffled pass draws a new order from it.
    ``pin_memory`` (on CUDA): page-locked batches, so copies to the GPU overlap its work."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))  # this pass's augmentation
    loader = torch.utils.data.DataLoader(
        ImageFiles(list(paths), transform, perturb=perturb, seed=seed, made=made),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
    )
    labels = torch.as_tensor(np.asarray(labels))
    for images, indices, errors in loader:
        if errors:
            index, message = errors[0]
            raise BenchmarkError(f"cannot read image {paths[index]}: {message}; remove or replace the file")
        yield images, labels[indices]
