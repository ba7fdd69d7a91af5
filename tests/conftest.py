import json
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# A failed hub download retries for ~45 s; nothing in the tests may try one.
os.environ["HF_HUB_OFFLINE"] = "1"
# Runs cache embeddings under $XDG_CACHE_HOME: keep the tests' cache out of the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="benchmark-test-cache-")

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """An open_clip config that builds and encodes in milliseconds (random weights)."""
    path = tmp_path_factory.mktemp("configs") / "bench-tiny.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


def save_image(path: Path, rng: np.random.Generator, tint, size: int, mode: str = "RGB") -> None:
    """A small noisy image with a class tint, saved in ``mode`` and the format of ``path``."""
    array = np.clip(rng.normal(128, 40, (size, size, 3)) + np.asarray(tint), 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    if mode == "L":
        image = image.convert("L")
    elif mode == "RGBA":
        image = image.convert("RGBA")
    elif mode == "CMYK":
        image = image.convert("CMYK")
    elif mode == "P":
        image = image.convert("P")
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


MIXED_MODES = [("jpg", "RGB"), ("png", "RGB"), ("png", "L"), ("png", "RGBA"), ("jpg", "CMYK"), ("png", "I;16"),
               ("png", "P")]


def make_class_folders(root: Path, classes: dict[str, tuple], videos: int = 6, frames: int = 2, seed: int = 0,
                       modes=MIXED_MODES) -> Path:
    """<root>/<Class>/<video>/<frame>.(jpg|png), mixed sizes, formats and modes."""
    rng = np.random.default_rng(seed)
    for c, (cls, tint) in enumerate(classes.items()):
        for v in range(videos):
            for f in range(frames):
                suffix, mode = modes[(v + f + c) % len(modes)]
                size = int(rng.integers(24, 72))
                save_image(root / cls / f"{v:03d}" / f"{f:03d}.{suffix}", rng, tint, size, mode)
    return root


@pytest.fixture
def faces_root(tmp_path) -> Path:
    return make_class_folders(
        tmp_path / "data",
        {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0), "NeuralTextures": (-30, 0, 60)},
    )


def interruptible() -> None:
    """preexec_fn for a child the test interrupts: a shell runs background jobs with SIGINT ignored,
    which Python children would inherit (and never raise KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_main(capsys, *args) -> tuple[int, str, str]:
    """The CLI in this process (fast): (exit code, stdout, stderr)."""
    from benchmark.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(result, message: str, out: Path | None = None) -> None:
    """Exit 2, one line that says ``message``, no traceback, and (when ``out`` is given) nothing written."""
    code, _, err = result
    assert code == 2, err
    assert message in " ".join(err.split()), err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    if out is not None:
        assert not out.exists(), f"{out} was written"


def tiny_args(backbone: str, epochs: int = 2) -> list[str]:
    return ["--set", "detectors.clip-adapter.pretrained=none", "--set", f"detectors.clip-adapter.backbone={backbone}",
            "--set", f"detectors.clip-adapter.epochs={epochs}", "--workers", "0"]


def write_suite(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SEED_SUITE = ("name: t\ndata: {real: Real_youtube}\npairings: [{train: FaceSwap, test: [FaceSwap, NeuralTextures]}]\n"
              "detectors: {clip-adapter: {}}\n")


@pytest.fixture
def registered():
    """Register a plugin object for one test, as if a package's entry point provided it."""
    from benchmark import plugins

    pm = plugins.get_manager()
    added = []

    def register(plugin, name):
        pm.register(plugin, name=name)
        added.append(plugin)

    yield register
    for plugin in added:
        pm.unregister(plugin)
