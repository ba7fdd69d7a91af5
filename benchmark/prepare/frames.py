"""Exactly N frames evenly spaced over a whole video, in RGB, with PyAV.

The frame count is never taken from the container's metadata (it can lie, and variable frame rate
makes duration x rate wrong): the packets are demuxed once without decoding (cheap) to list every
frame's presentation time; then each wanted frame is reached by seeking to the keyframe before it
and decoding forward, so a long video is not decoded whole when only N frames are needed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VideoError(Exception):
    """A video that cannot be used (empty, corrupt, no video stream): reported, never fatal."""


@dataclass
class Video:
    """An opened video: its frames' presentation times in order, and random access by index."""

    path: Path

    def __post_init__(self):
        import av

        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise VideoError("empty file" if self.path.is_file() else "missing file")
        try:
            self.container = av.open(str(self.path))
        except Exception as e:  # noqa: BLE001 - PyAV raises many types for broken files
            raise VideoError(f"cannot open: {str(e).splitlines()[0][:120]}") from None
        if not self.container.streams.video:
            self.close()
            raise VideoError("no video stream")
        if self.container.format.name.endswith("_pipe") or self.container.format.name == "image2":
            # FFmpeg opens a still image under any suffix as a one-frame "video"
            name = self.container.format.name
            self.close()
            raise VideoError(f"an image, not a video (FFmpeg reads it as {name})")
        self.stream = self.container.streams.video[0]
        try:
            packets = [(p.pts, p.is_keyframe) for p in self.container.demux(self.stream) if p.pts is not None and p.size]
        except Exception as e:  # noqa: BLE001
            self.close()
            raise VideoError(f"corrupt: {str(e).splitlines()[0][:120]}") from None
        if not packets:
            self.close()
            raise VideoError("no frames")
        self.times = sorted(t for t, _ in packets)
        self.keyframes = sorted(t for t, key in packets if key) or [self.times[0]]
        self._decoded = None  # the running decoder and the last time it gave, to go on without seeking
        self._last = None

    def __len__(self) -> int:
        return len(self.times)

    def frame(self, index: int) -> np.ndarray:
        """The frame at ``index`` (presentation order) as a C-contiguous RGB uint8 array (H, W, 3)."""
        target = self.times[index]
        keyframe = self.keyframes[max(0, bisect.bisect_right(self.keyframes, target) - 1)]
        try:
            if self._decoded is None or self._last is None or not keyframe <= self._last < target:
                # not reachable by decoding on from where we are: seek to the keyframe before it
                self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
                self._decoded = self.container.decode(self.stream)
            for frame in self._decoded:
                if frame.pts is None:
                    continue
                self._last = frame.pts
                if frame.pts >= target:
                    # rows can be padded for alignment; dlib silently misreads such a strided
                    # array (it found 1 face in 8 frames where the contiguous copy had 8 of 8)
                    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
        except Exception as e:  # noqa: BLE001
            raise VideoError(f"cannot decode frame {index}: {str(e).splitlines()[0][:120]}") from None
        raise VideoError(f"frame {index} could not be decoded")

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
