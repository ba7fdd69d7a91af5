"""Everything a plugin can register, each kept as small as possible:

* ``colour-stats``: a pixel detector (reads images through ``ctx.image_batches``, trains a logistic
  regression with torch, checkpoints every epoch so the harness picks the best one on val);
* ``terse``: a prompt set (``prompts: terse`` in a suite, for detectors that use text);
* ``precision``: a metric, with its vectorised bootstrap form;
* ``thumbnail``: an encoder library (``backbone: thumbnail:16``): an image-only "model" that
  downsizes to 16 x 16 pixels and flattens, enough to show the interface;
* ``colour-shift``: a test-time perturbation (``perturbations: [none, colour-shift:0.2]``): a random
  per-image colour cast of that strength;
* ``example-clips``: a dataset recipe (``benchmark prepare example-clips SRC DEST``): real/ and fake/
  folders of videos with an official test list, test.txt.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import precision_score
from torchvision import transforms

from benchmark import hookimpl
from benchmark.datasets import DatasetRecipe, Item, read_lines, videos_in
from benchmark.detector import Detector, FitContext, Samples, check_range
from benchmark.encoders import NO_WEIGHTS, ImageEncoder, LoadedEncoder
from benchmark.errors import BenchmarkError
from benchmark.metrics import Metric
from benchmark.perturbations import PerturbationKind
from benchmark.prompts import PromptSet
from benchmark.weighted import Resamples


class ColourStats(Detector):
    """Logistic regression on per-channel mean and standard deviation of a downsized image."""

    def __init__(self, size: int = 32, epochs: int = 5, lr: float = 0.1, batch_size: int = 64):
        check_range("size", size, 4)  # a bad option becomes "detectors.<name>.size: ..." before anything runs
        check_range("epochs", epochs, 1)
        check_range("lr", lr, 0, inclusive=False)
        self.size, self.epochs, self.lr, self.batch_size = size, epochs, float(lr), batch_size
        self.transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
        self.linear = torch.nn.Linear(6, 1)

    @staticmethod
    def _features(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)  # (B, 6)

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        torch.manual_seed(ctx.seed)  # the harness seeds too; a detector may reseed its own parts
        self.linear = torch.nn.Linear(6, 1)
        optimizer = torch.optim.SGD(self.linear.parameters(), lr=self.lr)
        with ctx.progress(self.epochs) as advance:
            for epoch in range(1, self.epochs + 1):
                total = 0.0
                for images, labels in ctx.image_batches(train, self.transform, self.batch_size, shuffle=True):
                    logits = self.linear(self._features(images)).squeeze(1)
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(labels)
                stats = {"train_loss": total / len(train)}
                ctx.save_checkpoint(epoch, stats)  # scores val: the best epoch is kept
                advance(**stats)

    @torch.no_grad()
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        scores = [torch.sigmoid(self.linear(self._features(images))).squeeze(1)
                  for images, _ in ctx.image_batches(samples, self.transform, self.batch_size)]
        return torch.cat(scores).numpy().astype(np.float64)

    def state_dict(self) -> dict:
        return {"linear": self.linear.state_dict()}  # tensors and plain values only

    def load_state_dict(self, state: dict) -> None:
        self.linear.load_state_dict(state["linear"])


class Thumbnail(ImageEncoder):
    """``thumbnail:<side>``: the image at side x side pixels, flattened. Image only (no text)."""

    def identity(self, model, pretrained, file_hash) -> dict:
        if not model.isdigit() or pretrained not in NO_WEIGHTS:
            raise BenchmarkError(f"backbone: thumbnail:{model} needs a whole number of pixels, and pretrained: none")
        return {"version": "forgery-example-plugin 0.1.0", "model": model, "weights": "none",
                "preprocess": {"resize": int(model), "interpolation": "bilinear"}, "layer": "pixels"}

    def load(self, model, pretrained, device) -> LoadedEncoder:
        side = int(model)
        preprocess = transforms.Compose([transforms.Resize((side, side)), transforms.ToTensor()])
        return LoadedEncoder(preprocess=preprocess, encode_image=lambda x: x.flatten(1), image_size=side)


def colour_shift(image, strength: float, rng: np.random.Generator):
    """Multiply each channel by 1 +- strength (drawn per image from the seeded generator)."""
    gains = 1 + rng.uniform(-strength, strength, 3)
    array = np.asarray(image, dtype=np.float32) * gains
    from PIL import Image

    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _strength(value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError("the colour-shift strength must be in (0, 1]")


def _precision_batch(r: Resamples) -> np.ndarray:
    tp, fp, _, _ = r.confusion  # per-resample counts at the cell's threshold
    return np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-12), 0.0)


@hookimpl
def register_detectors(register):
    register("colour-stats", ColourStats)


@hookimpl
def register_prompt_sets(register):
    register("terse", PromptSet(real=["a face"], fake=["a fake face"]))


@hookimpl
def register_metrics(register):
    register(Metric("precision", lambda y, p: precision_score(y, p, zero_division=0.0), thresholded=True,
                    batch=_precision_batch))


@hookimpl
def register_encoders(register):
    register("thumbnail", Thumbnail())


@hookimpl
def register_perturbations(register):
    register(PerturbationKind("colour-shift", colour_shift, _strength))


class ExampleClips(DatasetRecipe):
    name = "example-clips"
    title, origin = "Example clips", "any folder laid out as below"
    test_split, labels = "the videos test.txt names", "real/ = real, fake/ = fake"
    layout = "real/*.mp4, fake/*.mp4, test.txt (one file name per line)"

    def items(self, src, options):
        test = set(read_lines(src / "test.txt", "the official test list"))
        return [Item(path, f"EX_{label}", path.stem, "test" if path.name in test else "train")
                for label in ("real", "fake") for path in videos_in(src / label, f"{label}/ videos")]


@hookimpl
def register_datasets(register):
    register(ExampleClips())
