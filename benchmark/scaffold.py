"""`benchmark new-plugin NAME`: a plugin package skeleton that installs and runs as it is: a frozen-
feature detector registered through the entry point, a suite on generated demo faces, and a test."""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.errors import BenchmarkError

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "A forgery-benchmark detector plugin"
requires-python = ">=3.10"
dependencies = ["forgery-benchmark"]

[project.optional-dependencies]
dev = ["pytest>=7"]

# forgery-benchmark finds plugins through this entry-point group
[project.entry-points.benchmark]
{name} = "{package}.plugin"

[tool.setuptools]
packages = ["{package}"]
'''

PLUGIN = '''"""{name}: a detector trained on frozen image embeddings (the harness encodes every image once).

Start here: change the model in ``fit``/``predict``. The guide is docs/plugins.md of forgery-benchmark.
For a detector that reads pixels instead, return None from ``frozen_encoder`` and read images with
``ctx.image_batches(samples, transform, batch_size, shuffle=True)``.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark import hookimpl
from benchmark.detector import Detector, EncoderSpec, FitContext, Samples, check_range


class {cls}(Detector):
    def __init__(self, backbone: str = "ViT-B-32", pretrained: str = "openai", epochs: int = 10, lr: float = 1e-2):
        check_range("epochs", epochs, 1)  # bad options are reported as detectors.<name>.<option> before a run
        check_range("lr", lr, 0, inclusive=False)
        self.backbone, self.pretrained, self.epochs, self.lr = backbone, pretrained, epochs, float(lr)
        self.head: torch.nn.Linear | None = None

    def frozen_encoder(self) -> EncoderSpec:
        return EncoderSpec(self.backbone, self.pretrained)  # e.g. timm:tf_efficientnet_lite0 + imagenet-lite

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        x, y = train.features.to(ctx.device), torch.as_tensor(train.labels, dtype=torch.float32, device=ctx.device)
        self.head = torch.nn.Linear(x.shape[1], 1).to(ctx.device)
        optimizer = torch.optim.Adam(self.head.parameters(), lr=self.lr)
        with ctx.progress(self.epochs) as advance:
            for epoch in range(1, self.epochs + 1):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(self.head(x).squeeze(1), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                ctx.save_checkpoint(epoch, {{"train_loss": loss.item()}})  # scores val: best epoch kept
                advance(train_loss=loss.item())

    @torch.no_grad()
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        logits = self.head(samples.features.to(ctx.device)).squeeze(1)
        return torch.sigmoid(logits).cpu().numpy().astype(np.float64)  # P(fake), one per image

    def state_dict(self) -> dict:
        return {{"head": self.head.state_dict()}}  # tensors and plain values only

    def load_state_dict(self, state: dict) -> None:
        weight = state["head"]["weight"]
        self.head = torch.nn.Linear(weight.shape[1], 1)
        self.head.load_state_dict(state["head"])


@hookimpl
def register_detectors(register):
    register("{name}", {cls})
'''

SUITE = '''name: {name}-demo
description: {name} on generated demo faces (numbers mean nothing about deepfakes)
data:
  root: null                      # generated into the output folder
  real: Real
  synthetic: {{videos: 24, frames: 1, size: 64}}
pairings: {{matrix: [FaceSwapSim, TextureSim]}}
detectors:
  {name}: {{backbone: ViT-S-32-alt, pretrained: none, epochs: 5}}   # pretrained: openai with network access
report: {{bootstrap: 100}}
'''

TEST = '''"""The plugin is found through its entry point and runs a whole suite."""

import json
import os
from pathlib import Path

from benchmark import plugins
from benchmark.cli import main

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub download attempts in tests
SUITE = Path(__file__).resolve().parent.parent / "suite.yaml"


def test_the_detector_is_registered():
    assert plugins.collect().detectors.get("{name}").source.startswith("{name} 0.1.0")


def test_the_demo_suite_runs(tmp_path):
    assert main(["run", str(SUITE), "--output-dir", str(tmp_path / "run"), "--workers", "0"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(0 <= row["auc"] <= 1 for row in rows)
'''

README = '''# {name}

A detector plugin for forgery-benchmark, made by `benchmark new-plugin {name}`.

```
pip install -e '.[dev]'          # next to forgery-benchmark
benchmark plugins                # lists {name}
benchmark run suite.yaml         # a small study on generated faces
python -m pytest                 # the plugin's tests
```

Edit `{package}/plugin.py`; the harness's `docs/plugins.md` explains every field it hands you.
'''


def new_plugin(name: str, parent: Path) -> Path:
    """Write the skeleton into ``parent/name``; refuses a bad name or an existing folder."""
    if not NAME.match(name):
        raise BenchmarkError(f"new-plugin: '{name}' is not a package name: use lower case letters, digits and "
                             "single hyphens, starting with a letter (e.g. my-detector)")
    root = Path(parent) / name
    if root.exists():
        raise BenchmarkError(f"new-plugin: {root} already exists; choose another name or --dir")
    package = name.replace("-", "_")
    values = {"name": name, "package": package, "cls": "".join(p.capitalize() for p in name.split("-"))}
    files = {"pyproject.toml": PYPROJECT, f"{package}/__init__.py": '"""{name}: a forgery-benchmark plugin."""\n',
             f"{package}/plugin.py": PLUGIN, "suite.yaml": SUITE, "tests/test_plugin.py": TEST, "README.md": README}
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
