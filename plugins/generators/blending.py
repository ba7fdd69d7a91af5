"""Image operations the blend generators share, after mapooon/SelfBlendedImages (``src/utils/sbi.py``,
``src/utils/blend.py``, which use OpenCV and albumentations); here numpy, scipy.ndimage and PIL.

Every random choice draws from the ``numpy.random.Generator`` passed in, in a fixed order: the same
seed gives the same bytes in any process.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # SBI's dynamic_blend: full blends half the time
REFERENCE_SIZE = 380  # SBI's crops: its pixel constants (elastic alpha 50, sigma 7) are at this size
MASK_SIZE = 256  # masks are deformed at up to this size (see elastic)


def hull_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """H x W float32: 1 inside the convex hull of the landmarks, 0 outside (SBI's face hull)."""
    height, width = shape
    points = np.asarray(landmarks, np.float64)
    try:
        hull = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # collinear or too few points: no area to blend
        return np.zeros(shape, np.float32)
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=255)
    return np.asarray(canvas, np.float32) / 255.0


def elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float = 50.0, sigma: float = 7.0) -> np.ndarray:
    """Elastic deformation (Simard et al.; albumentations' ElasticTransform as SBI calls it), its
    constants scaled from SBI's 380 px crops to this mask's size. The mask is deformed at no more
    than MASK_SIZE px and brought back: the field is smooth at that scale, the blend mask is blurred
    at 192-256 px next anyway, and at 600 px this is most of a blend's time otherwise."""
    height, width = mask.shape
    factor = min(1.0, MASK_SIZE / max(height, width))
    small = _resize(mask, (max(1, round(height * factor)), max(1, round(width * factor)))) if factor < 1 else mask
    scale = max(small.shape) / REFERENCE_SIZE
    dx, dy = (ndimage.gaussian_filter(rng.uniform(-1, 1, small.shape), sigma * scale) * alpha * scale
              for _ in range(2))
    rows, cols = np.meshgrid(np.arange(small.shape[0]), np.arange(small.shape[1]), indexing="ij")
    moved = ndimage.map_coordinates(small, [rows + dy, cols + dx], order=1, mode="constant").astype(np.float32)
    return np.clip(_resize(moved, (height, width)), 0, 1) if factor < 1 else moved


def _cv_sigma(kernel: int) -> float:
    """The sigma OpenCV's GaussianBlur uses for a kernel size given with sigma 0 (as SBI calls it)."""
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def _blur(mask: np.ndarray, kernel: int) -> np.ndarray:
    sigma = _cv_sigma(kernel)
    return ndimage.gaussian_filter(mask, sigma, truncate=((kernel - 1) / 2) / sigma)


def _resize(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float mask -> (height, width), bilinear."""
    image = Image.fromarray(mask.astype(np.float32), mode="F")
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR), np.float32)


def soft_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's get_blend_mask: at a random size of 192-256 px, blur with a random odd kernel, keep only
    what stayed fully inside (an erosion), blur again with another kernel; back at full size."""
    height, width = mask.shape
    small = _resize(mask, (int(rng.integers(192, 257)), int(rng.integers(192, 257))))
    first, second = (int(k) for k in rng.choice(np.arange(5, 26, 2), 2))
    blurred = _blur(small, first)
    blurred = blurred / max(float(blurred.max()), 1e-6)
    blurred[blurred < 1] = 0
    blurred = _blur(blurred, second)
    blurred = blurred / max(float(blurred.max()), 1e-6)
    return np.clip(_resize(blurred, (height, width)), 0, 1)


def _hue_saturation_matrix(degrees: float, saturation: float) -> np.ndarray:
    """3 x 3 RGB matrix rotating hue by ``degrees`` and scaling saturation by ``saturation`` (the
    linear formulas of the CSS filter spec's hue-rotate and saturate): one matrix product per image
    instead of a round trip through HSV, three times slower at 600 px."""
    luma = np.array([0.213, 0.715, 0.072])
    grey = np.tile(luma, (3, 1))
    cos, sin = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    hue = grey + cos * (np.eye(3) - grey) + sin * np.array([[-0.213, -0.715, 0.928], [0.143, 0.140, -0.283],
                                                              [-0.787, 0.715, 0.072]])
    return (grey + saturation * (np.eye(3) - grey)) @ hue


def colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's source colour transforms: RGB shift of up to +-20 levels (3 times in 10), hue, saturation
    and value shifts of up to +-0.3 (as albumentations applies them to uint8 images: degrees and
    levels of 255), brightness and contrast of up to +-10 %. All are linear in RGB, so they are one
    3 x 4 matrix applied by PIL (clipped once, at the end)."""
    shift = rng.uniform(-20, 20, 3) if rng.random() < 0.3 else np.zeros(3)
    hue, saturation, value = rng.uniform(-0.3, 0.3, 3)
    mean_saturation = 0.5  # a level of saturation as a fraction of a typical face's (about half of full)
    matrix = _hue_saturation_matrix(hue, 1 + saturation / 255.0 / mean_saturation)
    brightness, contrast = rng.uniform(-0.1, 0.1, 2)
    # out = ((rgb + shift) @ M.T + value) * (1 + contrast) + 255 * brightness
    linear = matrix * (1 + contrast)
    offset = (matrix @ shift + value) * (1 + contrast) + 255.0 * brightness
    affine = np.hstack([linear, offset[:, None]])
    return np.asarray(Image.fromarray(image).convert("RGB", tuple(float(v) for v in affine.ravel())))


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of SBI's two: downscale by 2 or 4 (nearest) and back up (bilinear), or sharpen (alpha
    0.2-0.5, lightness 0.5-1)."""
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        ratio = int(rng.choice([2, 4]))
        small = Image.fromarray(image).resize((max(1, width // ratio), max(1, height // ratio)),
                                              Image.Resampling.NEAREST)
        return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))
    alpha, lightness = rng.uniform(0.2, 0.5), rng.uniform(0.5, 1.0)
    effect = np.full((3, 3), -1.0)
    effect[1, 1] = 8 + lightness
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    kernel = (1 - alpha) * identity + alpha * effect  # sums to 1 + alpha * lightness, as albumentations' Sharpen
    sharpened = Image.fromarray(image).filter(ImageFilter.Kernel((3, 3), tuple(float(v) for v in kernel.ravel()), scale=1))
    return np.asarray(sharpened)


def random_affine(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """SBI's randaffine: shift by up to 3 % across and 1.5 % down, scale 0.95-1.05, about the centre;
    (moved image, the landmarks moved with it: the hull mask is drawn from those, which is the mask
    SBI moves, without resampling it)."""
    height, width = image.shape[:2]
    tx, ty = rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.015, 0.015) * height
    scale = rng.uniform(0.95, 1 / 0.95)
    cx, cy = width / 2, height / 2
    # PIL maps each output pixel back to its input: the inverse of scale-about-centre then shift
    inverse = (1 / scale, 0, cx - (cx + tx) / scale, 0, 1 / scale, cy - (cy + ty) / scale)
    moved = Image.fromarray(image).transform((width, height), Image.Transform.AFFINE, inverse,
                                             resample=Image.Resampling.BILINEAR)
    points = (np.asarray(landmarks, np.float64) - (cx, cy)) * scale + (cx + tx, cy + ty)
    return np.asarray(moved), points.astype(np.float32)


def colour_transfer(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Face X-ray's colour correction: ``source``'s per-channel mean and spread inside ``mask``
    moved to ``target``'s there (Reinhard-style, in RGB)."""
    inside = mask > 0.5
    if inside.sum() < 16:
        return source
    src, dst = source.astype(np.float32), target.astype(np.float32)
    mu_s, sd_s = src[inside].mean(0), src[inside].std(0) + 1e-6
    mu_t, sd_t = dst[inside].mean(0), dst[inside].std(0)
    return np.clip((src - mu_s) / sd_s * sd_t + mu_t, 0, 255).astype(np.uint8)


def blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """SBI's dynamic_blend: the soft mask scaled by a ratio from :data:`BLEND_RATIOS`, then
    ``source * mask + target * (1 - mask)`` (PIL's composite, the mask in 1/255 steps: the output is
    8-bit anyway); (blended uint8, the mask used)."""
    soft = soft_mask(mask, rng) * float(rng.choice(BLEND_RATIOS))
    weight = Image.fromarray(np.rint(soft * 255).astype(np.uint8), mode="L")
    mixed = Image.composite(Image.fromarray(source), Image.fromarray(target), weight)
    return np.asarray(mixed), soft.astype(np.float32)
