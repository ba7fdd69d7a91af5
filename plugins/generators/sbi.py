"""`sbi`: Self-Blended Images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022; github mapooon/SelfBlendedImages, ``src/utils/sbi.py``).

A real face is blended with a slightly altered copy of itself: one of the two (at random) gets
colour jitter and either a downscale-upscale or a sharpen, the copy a small affine shift, and the
blend happens inside the convex hull of the 68 landmarks, elastically deformed and blurred twice,
at a ratio drawn from {0.25, 0.5, 0.75, 1, 1, 1}. The result looks real but carries the blending
boundary and statistical mismatch every face swap leaves: what a detector should learn.

Differences from the original, on purpose: the mask is the face hull only (SBI also draws among
three other hull shapes, which need its 81-point landmarks a quarter of the time), and images are
not flipped or cropped here (the detector's own augmentation does that).
"""

from __future__ import annotations

from benchmark.generators import Generator
from benchmark.hookspecs import hookimpl
from benchmark_plugins.generators.blending import blend, colour_jitter, degrade, elastic, hull_mask, random_affine


class SelfBlended(Generator):
    version = "1"

    def make(self, image, landmarks, rng, partner=None):
        altered = degrade(colour_jitter(image, rng), rng)
        # SBI alters the source or the target, one of the two; the other stays the real image
        source, target = (altered, image) if rng.random() < 0.5 else (image, altered)
        source, moved = random_affine(source, landmarks, rng)
        mask = elastic(hull_mask(image.shape[:2], moved), rng)
        return blend(source, target, mask, rng)


@hookimpl
def register_generators(register):
    register("sbi", SelfBlended)
