"""The pseudo-fake generator interface: what a ``register_generators`` plugin implements.

A generator turns a *real* training image into a fake one, deterministically from a seeded
``numpy.random.Generator``: Self-Blended Images (a face blended with a transformed copy of itself,
Shiohara & Yamasaki, CVPR 2022) or Face X-ray's blended images (a face blended into another real
image, Li et al., CVPR 2020). In a suite a generator's name is a *training set*: real images of
the training split plus pseudo-fakes made from those same images (see :mod:`benchmark.pseudo`).

The harness owns which images are blended (train from train, val from val, never a test image),
the seeds, the landmarks (68 dlib points, from ``prepare --landmarks`` output or detected once and
cached) and where generation runs (inside the decoding workers).
"""

from __future__ import annotations

import abc

import numpy as np


class Generator(abc.ABC):
    """Makes one pseudo-fake from one real face image (and, when ``partners``, another real one)."""

    #: part of every cached blend's identity: bump it when the same seed would give other pixels
    version: str = "1"
    #: True when :meth:`make` blends in another real image (Face X-ray): the harness passes the
    #: nearest faces by landmarks from the same split, never from another
    partners: bool = False

    @abc.abstractmethod
    def make(self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
             partner: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(fake, mask) from ``image`` (H x W x 3 uint8 RGB) and its (68, 2) landmarks in pixels.

        ``partner``: (image, landmarks) of another real face, for generators with ``partners``.
        ``fake`` is H x W x 3 uint8; ``mask`` H x W float32 in [0, 1]: where, and how much, the
        image was changed (what ``benchmark generate`` shows beside each blend). Only ``rng`` may
        be a source of randomness: the same seed must give the same bytes in any process.
        """
