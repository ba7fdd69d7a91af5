"""The field's fine-tuned baselines as named detectors: each is `finetune` with its paper's recipe as
defaults, every option still overridable (``--set detectors.xception.backbone=timm:test_efficientnet``).

Recipes follow DeepfakeBench's configs (training/config/detector/{xception,efficientnetb4,srm,spsl}
.yaml: 256 px, Adam lr 2e-4, weight decay 5e-4, 10 epochs, batch 32, no scheduler, flip / rotate /
blur / brightness-contrast / JPEG 40-100) and GenD (WACV 2026) for ``gend-ln``.
"""

from __future__ import annotations

import inspect

from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.finetune import Finetune

XCEPTION = {"backbone": "timm:legacy_xception", "pretrained": "tf_in1k", "rotate": 0.0}  # xception.yaml: rotate_prob 0

PRESETS = {
    "xception": ("Xception (FF++ paper; DeepfakeBench recipe), timm legacy_xception from ImageNet", XCEPTION),
    "efficientnet-b4": ("EfficientNet-B4 (DFDC winners, SBI's backbone; DeepfakeBench recipe), timm "
                        "tf_efficientnet_b4 from ImageNet (AutoAugment weights, as DeepfakeBench's file)",
                        {"backbone": "timm:tf_efficientnet_b4", "pretrained": "aa_in1k"}),
    "srm-xception": ("Xception on SRM noise residuals (fixed 5x5 high-pass first layer)",
                     {**XCEPTION, "input": "srm", "rotate": 0.5}),
    "spsl-xception": ("SPSL: Xception on RGB + the phase-only image (DeepfakeBench spsl.yaml)",
                      {**XCEPTION, "input": "phase", "rotate": 0.5}),
    "gend-ln": ("GenD (WACV 2026): CLIP ViT-L/14, LayerNorm parameters + head only, L2-normalised "
                "features; AdamW lr 3e-4, no weight decay, cosine to 1e-5",
                {"backbone": "ViT-L-14", "pretrained": "openai", "tune": "norm", "normalize": True, "size": 224,
                 "optimizer": "adamw", "lr": 3e-4, "weight_decay": 0.0, "scheduler": "cosine", "min_lr": 1e-5}),
}


def preset(name: str, summary: str, defaults: dict) -> type:
    """A subclass of Finetune whose signature carries ``defaults``: the harness reads options, types
    and defaults from the signature, so a preset records its own recipe in every run's identity."""
    signature = inspect.signature(Finetune.__init__)
    unknown = set(defaults) - set(signature.parameters)
    if unknown:
        raise TypeError(f"preset {name}: unknown finetune options {sorted(unknown)}")

    def __init__(self, **options):
        Finetune.__init__(self, **{**defaults, **options})

    __init__.__signature__ = signature.replace(parameters=[
        p.replace(default=defaults.get(p.name, p.default)) if p.name != "self" else p
        for p in signature.parameters.values()])
    __init__.__annotations__ = dict(Finetune.__init__.__annotations__)
    return type(name.title().replace("-", ""), (Finetune,), {"__init__": __init__, "__doc__": summary,
                                                            "__module__": __name__})


@hookimpl
def register_detectors(register):
    for name, (summary, defaults) in PRESETS.items():
        register(name, preset(name, summary, defaults))
