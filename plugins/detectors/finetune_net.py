"""The network `finetune` trains: input stem -> a registered encoder's image tower (timm,
torchvision, open_clip or a plugin's) -> pooled features [-> L2 normalisation] -> a fresh binary
head, and which of its parameters ``tune`` trains.

Architectures are checked on PyTorch's meta device (no memory, no weights, milliseconds), so a
backbone that does not fit the options is refused before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmark.detector import EncoderSpec
from benchmark.encoders import LoadedEncoder
from benchmark.errors import BenchmarkError
from benchmark_plugins.detectors.pixel_inputs import first_conv, input_stem, widen_first_conv

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)  # BN/IN, LN, GN, RMS
TUNE_CHOICES = "all, head, norm or last:<k>"


@dataclass(frozen=True)
class Tune:
    kind: str  # all | head | norm | last
    blocks: int = 0  # for last:<k>

    @classmethod
    def parse(cls, text: str) -> "Tune":
        kind, _, count = str(text).partition(":")
        if kind in ("all", "head", "norm") and not count:
            return cls(kind)
        if kind == "last" and count.isdigit() and int(count) >= 1:
            return cls("last", int(count))
        raise ValueError(f"tune: must be {TUNE_CHOICES} (k >= 1), got {text!r}")


def norm_layers(module: nn.Module) -> list[nn.Module]:
    """Normalisation layers that have parameters (an affine-free norm has nothing to tune)."""
    return [m for m in module.modules() if isinstance(m, NORM_LAYERS) and any(True for _ in m.parameters(False))]


def blocks(module: nn.Module) -> list[list[str]]:
    """The network's blocks, in order, as lists of parameter names. timm models: timm's own coarse
    grouping after the stem (the one layer-wise lr decay uses; its exit layers are the last group).
    Others: the children of the nn.Sequential / nn.ModuleList holding the most parameters
    (open_clip's transformer blocks, torchvision's ``features``)."""
    if hasattr(module, "group_matcher"):
        from timm.models import group_parameters

        groups = group_parameters(module, module.group_matcher(coarse=True))
        return [groups[g] for g in sorted(groups)][1:]
    containers = [(name, m) for name, m in module.named_modules()
                  if isinstance(m, (nn.Sequential, nn.ModuleList)) and len(m) >= 1]
    if not containers:
        return []
    name, container = max(containers, key=lambda c: (sum(p.numel() for p in c[1].parameters()), len(c[1])))
    prefix = f"{name}." if name else ""
    out = [[f"{prefix}{child}.{p}" for p, _ in block.named_parameters()] for child, block in container.named_children()]
    return [b for b in out if b]


class FinetuneNet(nn.Module):
    """(n, 3, size, size) normalised images -> (n,) logits of P(fake)."""

    def __init__(self, loaded: LoadedEncoder, input_kind: str, feature_dim: int, normalize: bool):
        super().__init__()
        self.stem = input_stem(input_kind)
        self.backbone = loaded.image_module if loaded.image_module is not None else loaded.module
        self._encode = loaded.encode_image  # runs through self.backbone
        self.normalize = normalize
        self.head = nn.Linear(feature_dim, 1)
        self.widened: str | None = None  # the first conv, widened for input: phase (always trained)
        self.tuned: set[str] = set()  # names of the parameters select() made trainable
        if input_kind == "phase":
            found = first_conv(self.backbone, getattr(self.backbone, "pretrained_cfg", {}).get("first_conv"))
            self.widened = found[0]
            widen_first_conv(self.backbone, self.widened)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        features = self._encode(self.stem(images)).flatten(1).float()
        return nn.functional.normalize(features, dim=1) if self.normalize else features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)

    # -- what trains ---------------------------------------------------------------------------
    def select(self, tune: Tune) -> list[nn.Parameter]:
        """Freeze the backbone except what ``tune`` names; the head (and a widened first conv) always
        train. Returns the trainable parameters."""
        self.backbone.requires_grad_(tune.kind == "all")
        if tune.kind == "norm":
            for layer in norm_layers(self.backbone):
                layer.requires_grad_(True)
        elif tune.kind == "last":
            names = [n for n, _ in self.backbone.named_parameters()]
            start = min(names.index(n) for n in blocks(self.backbone)[-tune.blocks])
            params = dict(self.backbone.named_parameters())
            for name in names[start:]:
                params[name].requires_grad_(True)
        if self.widened:
            self.backbone.get_submodule(self.widened).requires_grad_(True)
        self.head.requires_grad_(True)
        self.tuned = {name for name, p in self.named_parameters() if p.requires_grad}  # what a checkpoint keeps
        return [p for p in self.parameters() if p.requires_grad]

    def train_mode(self, tune: Tune) -> None:
        """Train mode where parameters train: a frozen BatchNorm keeps its running statistics and
        frozen layers keep dropout off, so ``tune: head`` is a true linear probe."""
        self.train()
        if tune.kind == "all":
            return
        self.backbone.eval()
        for module in self.backbone.modules():
            own = list(module.parameters(recurse=False))
            if own and all(p.requires_grad for p in own):
                module.train()

    def backbone_trains(self) -> bool:
        return any(p.requires_grad for p in self.backbone.parameters())


def load_encoder(spec: EncoderSpec, device: torch.device) -> LoadedEncoder:
    from benchmark.features.encoders import resolve_encoder

    _, encoder, model = resolve_encoder(spec)
    loaded = encoder.load(model, spec.pretrained, device)
    if loaded.mean is None or loaded.std is None:
        raise BenchmarkError(f"backbone: the encoder of {spec.model} does not say its input normalisation "
                             "(LoadedEncoder.mean/std); its plugin cannot be fine-tuned")
    return loaded


def check_architecture(spec: EncoderSpec, tune: Tune, input_kind: str, size: int) -> dict:
    """Build the architecture on the meta device and refuse what cannot run, one line naming the
    option. Returns what building the real network needs: the feature dimension."""
    with torch.device("meta"):
        try:
            loaded = load_encoder(EncoderSpec(spec.model, "none"), torch.device("meta"))
        except BenchmarkError as e:
            raise ValueError(str(e)) from None
        backbone = loaded.image_module if loaded.image_module is not None else loaded.module
        if input_kind == "phase" and first_conv(backbone) is None:
            raise ValueError(f"input: phase needs a first convolution with 3 input channels to widen; "
                             f"{spec.model} has none: use input rgb or srm")
        if tune.kind == "norm" and not norm_layers(backbone):
            raise ValueError(f"tune: norm: {spec.model} has no normalisation layers with parameters; "
                             f"use all, head or last:<k>")
        if tune.kind == "last":
            found = len(blocks(backbone))
            if tune.blocks > found:
                raise ValueError(f"tune: last:{tune.blocks}: {spec.model} has {found} block(s)"
                                 + (f"; use last:1 .. last:{found}" if found else "; use all, head or norm"))
        net = FinetuneNet(loaded, input_kind, 1, False)
        try:
            features = net.features(torch.empty(2, 3, size, size))
        except Exception as e:  # noqa: BLE001 - shape errors come in many types
            native = loaded.image_size
            raise ValueError(f"size: {spec.model} cannot take {size} px input with input {input_kind} "
                             f"({str(e).splitlines()[0][:140]}); try its own size, {native}") from None
    return {"feature_dim": int(features.shape[1])}
