"""`blended`: Face X-ray's blended images (Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020; the BI recipe as mapooon/SelfBlendedImages' ``src/utils/blend.py`` writes it).

The face of *another* real image, the one whose landmarks are nearest (from the same split: the
harness picks it), is aligned onto this image's landmarks by a similarity transform, its colours
matched to this face inside the mask, and blended in through the same elastic, twice-blurred hull
mask as ``sbi``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmark.generators import Generator
from benchmark.hookspecs import hookimpl
from benchmark.prepare.landmarks import similarity
from benchmark_plugins.generators.blending import blend, colour_transfer, elastic, hull_mask


def warp_onto(image: np.ndarray, landmarks: np.ndarray, onto: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """``image`` moved so that its ``landmarks`` land on ``onto``, in a canvas of ``size`` (h, w)."""
    matrix = similarity(landmarks, onto)
    if matrix is None:
        return None
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]  # PIL maps output pixels back to input
    moved = Image.fromarray(image).transform((size[1], size[0]), Image.Transform.AFFINE, tuple(inverse.ravel()),
                                             resample=Image.Resampling.BILINEAR)
    return np.asarray(moved)


class FaceXrayBlend(Generator):
    version = "1"
    partners = True

    def make(self, image, landmarks, rng, partner=None):
        if partner is None:
            raise ValueError("blended needs a partner face (another real image of the same split)")
        face = warp_onto(partner[0], partner[1], landmarks, image.shape[:2])
        mask = elastic(hull_mask(image.shape[:2], landmarks), rng)
        if face is None:  # degenerate partner landmarks: nothing to blend in
            return image.copy(), np.zeros(image.shape[:2], np.float32)
        return blend(colour_transfer(face, image, mask), image, mask, rng)


@hookimpl
def register_generators(register):
    register("blended", FaceXrayBlend)
