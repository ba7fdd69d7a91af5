"""`benchmark predict`: score new images with a trained model, through the run's own pipeline
(decoding, frozen encoder, embedding cache), so the same image gets the same score.

The model file records the detector plugin, its options, the plugin's package and version and the
encoder identity; the detector is rebuilt from that alone, and a mismatch with what is installed
now is refused in one line rather than scored with another model.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark import plugins as plugin_registry
from benchmark.checkpoints import safe_load
from benchmark.data.images import IMAGE_SUFFIXES, image_batches, image_problem
from benchmark.detector import FitContext, Samples
from benchmark.errors import BenchmarkError
from benchmark.data.facts import FileFacts
from benchmark.features.encoders import FeatureStore
from benchmark.run.results import train_dir
from benchmark.run.training import FINAL_MODEL

MODEL_KEYS = ("state", "selection", "use", "options", "source", "encoder")


@dataclass
class Inputs:
    paths: list[str]
    videos: list[str | None]  # the frame folder an image came from (relative to the input), or None


def model_path(target: str, detector: str | None, train: str | None, seed: int | None) -> Path:
    """A final_model.pth given directly, or found in a run dir by detector, training set and seed."""
    path = Path(target)
    if path.is_file():
        return path
    if not path.is_dir():
        raise BenchmarkError(f"predict: {target} is neither a model file nor a run directory")
    if not detector or not train:
        raise BenchmarkError(f"predict: {target} is a run directory: pass --detector NAME and --train CLASS")
    _check_choice(detector, [p.name for p in path.iterdir() if p.is_dir() and any(p.glob("train-*"))],
                  "--detector", f"detectors of {path}")
    _check_choice(train, [p.name.removeprefix("train-") for p in (path / detector).glob("train-*")],
                  "--train", f"training sets of {detector} in {path}")
    if seed is None:
        seeds = sorted(int(p.name.removeprefix("seed-")) for p in (path / detector / f"train-{train}").glob("seed-*"))
        if len(seeds) != 1:
            raise BenchmarkError(f"predict: {path / detector / f'train-{train}'} holds seeds {seeds or 'none'}; "
                                 f"pass --seed")
        seed = seeds[0]
    return train_dir(path, detector, train, seed) / FINAL_MODEL


def _check_choice(value: str, choices: list[str], flag: str, what: str) -> None:
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BenchmarkError(f"predict: {flag} {value}: not among the {what} ({', '.join(sorted(choices)) or 'none'})"
                             f"{hint}")


def collect_inputs(items: list[str]) -> Inputs:
    """Image files; folders searched recursively, images in sub-folders grouped as videos. Paths
    are made absolute, so they match the run's own test_predictions.csv."""
    paths, videos = [], []
    for item in items:
        path = Path(item).resolve()  # absolute, as the run's own files name images
        if path.is_file():
            paths.append(str(path))
            videos.append(None)
        elif path.is_dir():
            found = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                           key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))])
            for image in found:
                paths.append(str(image))
                parent = image.parent.relative_to(path)
                videos.append(str(parent) if parent != Path(".") else None)
        else:
            raise BenchmarkError(f"predict: {item} does not exist")
    if not paths:
        raise BenchmarkError(f"predict: no .png/.jpg/.jpeg images in {', '.join(items)}")
    bad = [(p, problem) for p in paths if (problem := image_problem(p)[0])]
    if bad:
        raise BenchmarkError(f"predict: {len(bad)} unreadable image(s): "
                             + "; ".join(f"{p} ({why})" for p, why in bad) + "; remove them from the inputs")
    return Inputs(paths, videos)


def load_detector(path: Path, device: torch.device, workers: int, cache_dir: Path | None):
    """(detector, saved checkpoint, feature store) rebuilt from the model file, checked against
    what is installed."""
    saved = safe_load(path, MODEL_KEYS)
    found = plugin_registry.collect().detectors.get(saved["use"], where=f"{path}: detector")
    if found.source != saved["source"]:
        raise BenchmarkError(f"{path} was trained with {saved['source']}, but {found.source} is installed; "
                             f"install that version, or retrain")
    try:
        detector = found.value(**saved["options"])
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"{path}: its options no longer build {saved['use']} ({e}); retrain") from None
    features = FeatureStore(device, workers, cache_dir, FileFacts(cache_dir), fast_decode=saved.get("fast_decode", False))
    spec = detector.frozen_encoder() or detector.starts_from()
    if (features.key(spec) if spec else None) != saved["encoder"]:
        raise BenchmarkError(f"{path}: its encoder ({saved['encoder']}) differs from the one {saved['use']} would use "
                             f"now (model, weights, preprocessing or library version changed); retrain")
    detector.load_state_dict(saved["state"])
    return detector, saved, features


def predict(path: Path, inputs: Inputs, device: torch.device, workers: int, cache_dir: Path | None,
            perturb=None) -> pd.DataFrame:
    """path, score, prediction (at the threshold chosen on val) [+ video, video_score]; ``perturb``
    degrades every image first, exactly as a run's perturbed test cells do."""
    detector, saved, features = load_detector(path, device, workers, cache_dir)
    samples = Samples(paths=inputs.paths, labels=np.zeros(len(inputs.paths), dtype=np.int64))
    spec = detector.frozen_encoder()
    if spec is not None:
        samples.features = features.images(spec, samples.paths, perturb=perturb)
    generator = torch.Generator().manual_seed(0)
    ctx = FitContext(device=device, seed=0, prompts=None, log=lambda message: None,
                     image_batches=lambda s, transform, batch_size, shuffle=False: image_batches(
                         s.paths, s.labels, transform, batch_size, shuffle, generator, workers, perturb,
                         device.type == "cuda"))
    scores = np.asarray(detector.predict(samples, ctx), dtype=np.float64)
    threshold = saved["selection"]["threshold"]
    frame = pd.DataFrame({"path": inputs.paths, "score": scores, "prediction": (scores >= threshold).astype(int)})
    if any(v is not None for v in inputs.videos):
        frame["video"] = inputs.videos
        frame["video_score"] = frame.groupby("video", dropna=False)["score"].transform("mean")
        frame.loc[frame["video"].isna(), "video_score"] = np.nan
    return frame
