"""Facts about where a run happened, for meta.json: versions, git commit, device."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError

PACKAGES = ("forgery-benchmark", "torch", "torchvision", "open_clip_torch", "numpy", "scikit-learn",
            "pandas", "pluggy", "pillow")


def installed(packages) -> dict[str, str]:
    """package -> its installed version ("not installed" when missing)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), **installed(PACKAGES)}


def git_commit() -> str | None:
    """The harness's own commit (and whether its tree had changes), when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def resolve_device(requested: str) -> torch.device:
    """auto | cpu | cuda | cuda:N; a device this machine lacks is a one-line error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise BenchmarkError(f"--device must be auto, cpu, cuda or cuda:N, got {requested!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchmarkError(f"--device {requested}: no CUDA device is visible to torch; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchmarkError(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA "
                                 f"device(s), numbered from 0")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
