"""`finetune`: a pretrained image network trained end to end (or in part) on pixels, with the
field's recipe: the baseline every generalization table carries (Xception, EfficientNet-B4, SRM,
SPSL, LayerNorm-tuned CLIP: see ``presets.py``).

* ``backbone`` / ``pretrained``: any registered encoder library, spelled as for frozen detectors
  (``timm:legacy_xception``, ``torchvision:resnet50``, ``ViT-B-32``), weights ``none``, a file, a
  library tag or ``imagenet-lite``; a fresh binary head goes on its pooled features.
* ``tune``: ``all``, ``head`` (a linear probe trained by SGD), ``norm`` (normalisation layers +
  head: GenD's recipe) or ``last:<k>`` (the last k blocks + head).
* ``input``: ``rgb``, ``srm`` (noise residuals) or ``phase`` (RGB + phase-only image, SPSL).

Images arrive through ``ctx.image_batches`` (decoded by the harness's workers, pinned on CUDA).
Every epoch is checkpointed with optimizer and scheduler state: a killed run resumes to the same
weights. On CUDA: bf16 autocast and channels_last.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from benchmark.detector import Detector, EncoderSpec, FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.augment import Augmentations, eval_transform, train_transform
from benchmark_plugins.detectors.finetune_net import FinetuneNet, Tune, check_architecture, load_encoder
from benchmark_plugins.detectors.pixel_inputs import INPUTS

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine")
HEAD_INITS = ("random", "prompts")


def _choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def lr_factor(step: int, total: int, warmup: int, floor: float, cosine: bool = True) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to ``floor`` at ``total`` (or 1)."""
    if step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class Finetune(Detector):
    """Fine-tune a pretrained network on pixels; defaults: DeepfakeBench's Xception recipe."""

    def __init__(self, backbone: str = "timm:legacy_xception", pretrained: str = "tf_in1k", tune: str = "all",
                 input: str = "rgb", size: int = 256, epochs: int = 10, batch_size: int = 32, lr: float = 2e-4,
                 weight_decay: float = 5e-4, optimizer: str = "adam", scheduler: str = "none",
                 warmup_epochs: int = 0, min_lr: float = 0.0, normalize: bool = False, head_init: str = "random",
                 hflip: float = 0.5, rotate: float = 0.5, rotate_degrees: float = 10.0, blur: float = 0.5,
                 brightness_contrast: float = 0.5, jpeg: float = 0.5, jpeg_quality: list = (40, 100),
                 channels_last: bool = True):
        """``normalize``: L2-normalise the pooled features before the head. ``head_init: prompts``:
        start the head as CLIP's zero-shot classifier (fake minus real prompt embeddings; needs a
        backbone that encodes text and ``normalize: true``). Augmentations are probabilities (0 = off);
        ``jpeg_quality``: [low, high]. ``channels_last`` applies on CUDA only."""
        check_range("size", size, 8)
        check_range("epochs", epochs, 1)
        check_range("batch_size", batch_size, 1)
        check_range("lr", lr, 0, inclusive=False)
        check_range("weight_decay", weight_decay, 0)
        check_range("min_lr", min_lr, 0)
        check_range("warmup_epochs", warmup_epochs, 0, epochs)
        check_range("rotate_degrees", rotate_degrees, 0, 180)
        for name, value in (("hflip", hflip), ("rotate", rotate), ("blur", blur),
                            ("brightness_contrast", brightness_contrast), ("jpeg", jpeg)):
            check_range(name, value, 0, 1.000001)
        quality = list(jpeg_quality)
        if len(quality) != 2 or not all(isinstance(q, int) and 1 <= q <= 100 for q in quality) or quality[0] > quality[1]:
            raise ValueError(f"jpeg_quality: must be [low, high] with 1 <= low <= high <= 100, got {jpeg_quality!r}")
        _choice("input", input, INPUTS)
        _choice("optimizer", optimizer, OPTIMIZERS)
        _choice("scheduler", scheduler, SCHEDULERS)
        _choice("head_init", head_init, HEAD_INITS)
        if head_init == "prompts" and not normalize:
            raise ValueError("head_init: prompts scores by cosine similarity, as CLIP does: set normalize: true")
        self.tune = Tune.parse(tune)
        self.spec = EncoderSpec(str(backbone), str(pretrained))
        self.input, self.size, self.epochs, self.batch_size = input, size, epochs, batch_size
        self.lr, self.weight_decay, self.min_lr = float(lr), float(weight_decay), float(min_lr)
        self.optimizer, self.scheduler, self.warmup_epochs = optimizer, scheduler, warmup_epochs
        self.normalize, self.head_init, self.channels_last = normalize, head_init, channels_last
        self.augment = Augmentations(hflip, rotate, rotate_degrees, blur, brightness_contrast, 0.1, jpeg, tuple(quality))
        # refused here, before anything runs: unknown model, tune/input/size the network cannot take
        self.feature_dim = check_architecture(self.spec, self.tune, input, size)["feature_dim"]
        self.net: FinetuneNet | None = None
        self.mean = self.std = None

    def starts_from(self) -> EncoderSpec:
        return self.spec

    def uses_text(self) -> str | None:
        return "set head_init: random" if self.head_init == "prompts" else None

    # -- building ------------------------------------------------------------------------------
    def _build(self, pretrained: str) -> FinetuneNet:
        """The network with ``pretrained`` weights (``none`` when a saved state will overwrite them)."""
        loaded = load_encoder(EncoderSpec(self.spec.model, pretrained), torch.device("cpu"))
        self.mean, self.std = list(loaded.mean), list(loaded.std)
        net = FinetuneNet(loaded, self.input, self.feature_dim, self.normalize)
        if self.head_init == "prompts":
            self._loaded = loaded  # its text tower, for the head's initial weights
        return net

    def _on_device(self, device: torch.device) -> FinetuneNet:
        self.net.to(device)
        if device.type == "cuda" and self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        return self.net

    @torch.no_grad()
    def _zero_shot_head(self, ctx: FitContext) -> None:
        """head = logit_scale * (mean fake prompt - mean real prompt), normalised embeddings."""
        encode = self._loaded.encode_text

        def mean_text(texts):
            return nn.functional.normalize(nn.functional.normalize(encode(list(texts)).float(), dim=1).mean(0), dim=0)

        scale = float(getattr(self._loaded.module, "logit_scale", torch.tensor(math.log(100.0))).exp())
        self.net.head.weight.copy_(scale * (mean_text(ctx.prompts.fake) - mean_text(ctx.prompts.real)).unsqueeze(0))
        self.net.head.bias.zero_()
        del self._loaded

    def _optimizer(self, params) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        kind = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return kind(params, lr=self.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=self.weight_decay)

    # -- training ------------------------------------------------------------------------------
    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        if ctx.resume is not None:
            self.load_state_dict(ctx.resume.state)
        else:
            self.net = self._build(self.spec.pretrained)
            if self.head_init == "prompts":
                self._zero_shot_head(ctx)
        net = self._on_device(ctx.device)
        optimizer = self._optimizer(net.select(self.tune))
        steps = math.ceil(len(train) / self.batch_size)
        floor = self.min_lr / self.lr
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
            step, self.epochs * steps, self.warmup_epochs * steps, floor, cosine=self.scheduler == "cosine"))
        first = 1
        if ctx.resume is not None:
            optimizer.load_state_dict(ctx.resume.extra["optimizer"])
            scheduler.load_state_dict(ctx.resume.extra["scheduler"])
            first = ctx.resume.epoch + 1
        transform = train_transform(self.size, self.mean, self.std, self.augment)
        loss_fn = nn.BCEWithLogitsLoss()
        with ctx.progress(self.epochs - first + 1) as advance:
            for epoch in range(first, self.epochs + 1):
                net.train_mode(self.tune)
                total, seen = 0.0, 0
                for images, labels in ctx.image_batches(train, transform, self.batch_size, shuffle=True):
                    if len(labels) < 2:
                        continue  # BatchNorm cannot train on one image (DeepfakeBench drops the last batch)
                    loss = self._step(net, optimizer, loss_fn, images, labels, ctx.device)
                    scheduler.step()
                    total += loss * len(labels)
                    seen += len(labels)
                stats = {"train_loss": total / max(seen, 1), "lr": optimizer.param_groups[0]["lr"]}
                ctx.log(f"epoch {epoch}/{self.epochs} train_loss={stats['train_loss']:.4f} lr={stats['lr']:.3g}")
                ctx.save_checkpoint(epoch, stats, resume={"optimizer": optimizer.state_dict(),
                                                          "scheduler": scheduler.state_dict()})
                advance(train_loss=stats["train_loss"])

    def _step(self, net, optimizer, loss_fn, images, labels, device) -> float:
        images = images.to(device, non_blocking=True)
        if device.type == "cuda" and self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            if net.backbone_trains():
                logits = net(images)
            else:  # tune: head: no graph through the frozen backbone
                with torch.no_grad():
                    features = net.features(images)
                logits = net.head(features).squeeze(1)
        loss = loss_fn(logits.float(), labels.float().to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        net = self._on_device(ctx.device).eval()
        scores = []
        for images, _ in ctx.image_batches(samples, eval_transform(self.size, self.mean, self.std), 2 * self.batch_size):
            images = images.to(ctx.device, non_blocking=True)
            if ctx.device.type == "cuda" and self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with _autocast(ctx.device):
                scores.append(torch.sigmoid(net(images).float()).cpu())
        return torch.cat(scores).numpy().astype(np.float64)

    # -- weights -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """With ``tune: all`` every weight; otherwise only what training changes (the tuned parameters,
        the head and every buffer such as BatchNorm statistics), on top of the starting weights that
        ``pretrained`` names: a LayerNorm-tuned ViT-L/14 checkpoint is a few MB instead of 1.2 GB. The
        run records the starting weights' identity, and `benchmark predict` refuses other weights."""
        weights = self.net.state_dict()
        if self.tune.kind != "all":
            kept = self.net.tuned | {name for name, _ in self.net.named_buffers()}
            weights = {k: v for k, v in weights.items() if k in kept}
        return {"backbone": self.spec.model, "input": self.input, "feature_dim": self.feature_dim,
                "normalize": self.normalize, "mean": list(self.mean), "std": list(self.std),
                "partial": self.tune.kind != "all", "model": {k: v.cpu() for k, v in weights.items()}}

    def load_state_dict(self, state: dict) -> None:
        partial = state.get("partial", False)
        with torch.random.fork_rng(devices=[]):  # building must not move the global RNG (exact resume)
            # a full state overwrites every weight: the architecture alone will do
            self.net = self._build(self.spec.pretrained if partial else "none")
        self.mean, self.std = list(state["mean"]), list(state["std"])  # the trained weights' own
        missing, unexpected = self.net.load_state_dict(state["model"], strict=not partial)
        if unexpected:
            raise ValueError(f"state: weights for {unexpected[0]} that this network does not have")
        self.net.select(self.tune)


@hookimpl
def register_detectors(register):
    register("finetune", Finetune)
