"""A small deterministic dataset for the smoke demo: cartoon faces drawn with PIL, grouped in
"videos" (one identity, slightly moving), and two different manipulations of them.

* ``FaceSwapSim``: the inner face (eyes, nose, mouth) of another identity pasted in with a feathered
  elliptical mask and a slight colour mismatch, as a face swap would.
* ``TextureSim``: only the lower face re-rendered with smoothed, over-sharpened texture and the
  checkerboard pattern of transposed-convolution upsampling, as a neural re-enactment would.

The images look nothing like real data; the demo only proves the harness runs end to end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REAL, SWAP, TEXTURE = "Real", "FaceSwapSim", "TextureSim"
GENERATOR = 2  # bumped when the drawing changes, so old demo data is redrawn
FOLDER = "synthetic-data"
MARKER = "synthetic.json"  # under the run dir when data.root is null
DEFAULTS = {"videos": 16, "frames": 4, "size": 160, "seed": 0}


def _identity(rng: np.random.Generator) -> dict:
    return {
        "skin": tuple(int(c) for c in rng.integers([150, 100, 70], [240, 200, 170])),
        "hair": tuple(int(c) for c in rng.integers(0, 120, 3)),
        "iris": tuple(int(c) for c in rng.integers(20, 160, 3)),
        "background": tuple(int(c) for c in rng.integers(40, 230, 3)),
        "face_w": float(rng.uniform(0.52, 0.66)),
        "face_h": float(rng.uniform(0.68, 0.8)),
        "eye_gap": float(rng.uniform(0.16, 0.22)),
        "mouth_w": float(rng.uniform(0.14, 0.24)),
    }


def _draw_face(ident: dict, size: int, shift: tuple[float, float], inner_only: bool = False) -> Image.Image:
    img = Image.new("RGB", (size, size), ident["background"])
    d = ImageDraw.Draw(img)
    cx, cy = size * (0.5 + shift[0]), size * (0.52 + shift[1])
    fw, fh = size * ident["face_w"], size * ident["face_h"]
    if not inner_only:
        d.ellipse([cx - fw / 2 - 6, cy - fh / 2 - 10, cx + fw / 2 + 6, cy], fill=ident["hair"])
    d.ellipse([cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2], fill=ident["skin"])
    gap, eye_y, r = size * ident["eye_gap"], cy - fh * 0.1, size * 0.045
    for ex in (cx - gap / 2 - r, cx + gap / 2 + r):
        d.ellipse([ex - 2 * r, eye_y - r, ex + 2 * r, eye_y + r], fill=(245, 245, 245))
        d.ellipse([ex - r, eye_y - r, ex + r, eye_y + r], fill=ident["iris"])
        d.line([ex - 2 * r, eye_y - 2.2 * r, ex + 2 * r, eye_y - 2.5 * r], fill=ident["hair"], width=3)
    d.line([cx, eye_y + r, cx - r, cy + fh * 0.12], fill=tuple(int(c * 0.8) for c in ident["skin"]), width=2)
    mw, my = size * ident["mouth_w"], cy + fh * 0.25
    d.arc([cx - mw / 2, my - size * 0.05, cx + mw / 2, my + size * 0.05], 10, 170, fill=(150, 40, 50), width=3)
    return img


def _photo_noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Blur + sensor noise + lighting gradient so the images are not flat-colour drawings."""
    array = np.asarray(img.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32)
    h, w, _ = array.shape
    light = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.15), w, dtype=np.float32)[None, :, None]
    array = array * light + rng.normal(0, 6, array.shape)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _ellipse_mask(size: int, box: list[float], feather: float) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(feather))


def _swap(frame: Image.Image, donor: dict, size: int, shift, rng) -> Image.Image:
    donor_face = _draw_face(donor, size, shift, inner_only=True)
    tint = np.asarray(donor_face, dtype=np.float32) * rng.uniform(0.92, 1.08, 3)
    donor_face = Image.fromarray(np.clip(tint, 0, 255).astype(np.uint8))
    cx, cy = size * (0.5 + shift[0]), size * (0.52 + shift[1])
    mask = _ellipse_mask(size, [cx - size * 0.22, cy - size * 0.2, cx + size * 0.22, cy + size * 0.3], 3)
    return Image.composite(donor_face, frame, mask)


def _retexture(frame: Image.Image, size: int, shift) -> Image.Image:
    cx, cy = size * (0.5 + shift[0]), size * (0.52 + shift[1])
    # the lower face re-rendered, as a neural re-enactment would: smoothed, over-sharpened, and with
    # the checkerboard texture that transposed-convolution upsampling leaves
    smooth = np.asarray(frame.filter(ImageFilter.GaussianBlur(2.5)).filter(ImageFilter.UnsharpMask(2, 300, 0)),
                        dtype=np.float32)
    rows, cols = np.indices(smooth.shape[:2])
    checker = np.where(((rows // 3) + (cols // 3)) % 2 == 0, 14.0, -14.0)[..., None]
    rendered = Image.fromarray(np.clip(smooth + checker, 0, 255).astype(np.uint8))
    mask = _ellipse_mask(size, [cx - size * 0.2, cy + size * 0.02, cx + size * 0.2, cy + size * 0.32], 2)
    return Image.composite(rendered, frame, mask)


def settings_for(videos: int = 16, frames: int = 4, size: int = 160, seed: int = 0) -> dict:
    return {"videos": int(videos), "frames": int(frames), "size": int(size), "seed": int(seed), "generator": GENERATOR}


def made_with(root: str | Path) -> dict | None:
    """The settings the data in ``root`` was generated with; None when there is none."""
    try:
        return json.loads((Path(root) / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def generate(root: str | Path, **settings) -> Path:
    """Write ``<root>/{Real,FaceSwapSim,TextureSim}/<video>/<frame>.jpg``; reused when already made
    with the same settings, redrawn from scratch (no stale videos left) when made with others."""
    root = Path(root)
    settings = settings_for(**settings)
    existing = made_with(root)
    if existing == settings:
        return root
    if existing is not None:  # ours: other settings, e.g. fewer videos, must not leave old ones behind
        for cls in (REAL, SWAP, TEXTURE):
            shutil.rmtree(root / cls, ignore_errors=True)
    marker = root / MARKER
    marker.unlink(missing_ok=True)  # written again last: a half-drawn folder is never taken as done
    rng = np.random.default_rng(settings["seed"])
    identities = [_identity(rng) for _ in range(settings["videos"])]
    for v, ident in enumerate(identities):
        donor = identities[(v + 1 + int(rng.integers(settings["videos"] - 1))) % settings["videos"]]
        for f in range(settings["frames"]):
            shift = (0.03 * np.sin(f + v), 0.02 * np.cos(1.3 * f + v))
            frame = _draw_face(ident, settings["size"], shift)
            for cls, image in (
                (REAL, frame),
                (SWAP, _swap(frame, donor, settings["size"], shift, rng)),
                (TEXTURE, _retexture(frame, settings["size"], shift)),
            ):
                out = root / cls / f"{v:03d}" / f"{f:04d}.jpg"
                out.parent.mkdir(parents=True, exist_ok=True)
                _photo_noise(image, rng).save(out, quality=90)
    marker.write_text(json.dumps(settings))
    return root
