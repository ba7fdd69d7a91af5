"""Checkpoint files: loaded without running code, and carrying what an exact resume needs.

Every load uses ``torch.load(weights_only=True)``: a detector's state must be tensors and plain
containers (dict, list, tuple, str, int, float, bool, None). A file that would need pickled code
to load is refused with one line, never executed; a corrupt, truncated or foreign file is one line
naming it.
"""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import BenchmarkError


@dataclass
class Checkpoint:
    """The last epoch a training run finished: what ``ctx.resume`` hands a detector."""

    epoch: int
    state: dict  # detector.state_dict() at the end of that epoch
    extra: dict  # what the detector passed as save_checkpoint(..., resume=...): optimizer, RNGs


def safe_load(path: Path, required: tuple[str, ...] = ()) -> dict:
    """A checkpoint dict from ``path``, or a one-line BenchmarkError naming the file."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchmarkError(f"{path} does not exist") from None
    except pickle.UnpicklingError as e:
        code = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line or "Unsupported global" in line]
        if code:
            raise BenchmarkError(f"{path}: refused to load: it needs pickled code to load ({code[0][:120]}); "
                                 f"checkpoints hold only tensors and plain values: delete the file and retrain") from None
        raise BenchmarkError(f"{path}: not a readable checkpoint (corrupt or truncated); delete it and retrain") from None
    except Exception:  # noqa: BLE001 - torch raises many types for damaged files
        raise BenchmarkError(f"{path}: not a readable checkpoint (corrupt or truncated); delete it and retrain") from None
    if not isinstance(obj, dict) or any(key not in obj for key in required):
        raise BenchmarkError(f"{path}: not a checkpoint written by this harness (expected keys: "
                             f"{', '.join(required)}); delete it and retrain")
    return obj


PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.Size)


def check_plain(value, where: str = "state") -> None:
    """Raise TypeError naming the first value a weights-only load could not read back."""
    if isinstance(value, dict):
        for key, child in value.items():
            check_plain(key, f"{where} key")
            check_plain(child, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, child in enumerate(value):
            check_plain(child, f"{where}[{i}]")
    elif not isinstance(value, PLAIN):
        raise TypeError(f"{where} is a {type(value).__name__}: state_dict() must hold only tensors and plain values "
                        f"(save a scikit-learn model as its arrays)")


def rng_state() -> dict:
    """Python, numpy and torch global RNG states as tensors and plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {"python": list(random.getstate()[1]), "python_version": random.getstate()[0],
            "numpy": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(position),
            "numpy_gauss": [int(has_gauss), float(gauss)], "torch": torch.get_rng_state(),
            # dropout on a GPU draws from the CUDA generators: a resumed run must continue them too
            **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_available() else {})}


def set_rng_state(state: dict) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), None))
    has_gauss, gauss = state["numpy_gauss"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         int(has_gauss), float(gauss)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_of(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def checkpoints_in(folder: Path) -> list[Path]:
    """checkpoint_epoch_<k>.pth files, by epoch."""
    return sorted(Path(folder).glob("checkpoint_epoch_*.pth"), key=epoch_of)
