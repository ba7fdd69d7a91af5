"""`pixel-cnn`: a small convolutional network trained from pixels, from scratch — the from-scratch
CNN baseline of the field (the MesoNet / Xception-from-scratch family, at a size a CPU can train).

Unlike the frozen-feature detectors it reads pixels every epoch, through ``ctx.image_batches``
(parallel decoding by the harness's workers), with flip and crop-jitter augmentation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.detector import Detector, FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """conv-BN-ReLU twice, the second with stride 2: half the resolution, more channels."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """(n, 3, size, size) -> (n,) logits: a stem, three downsampling blocks, global pooling, a head."""

    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.features = nn.Sequential(_block(3, channels), _block(channels, 2 * channels),
                                      _block(2 * channels, 4 * channels))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * channels, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)


class PixelCNN(Detector):
    def __init__(self, size: int = 64, channels: int = 32, epochs: int = 20, batch_size: int = 32, lr: float = 3e-4,
                 weight_decay: float = 1e-4, dropout: float = 0.0, hflip: bool = True, crop_jitter: float = 0.1):
        """``crop_jitter``: training images are resized to size x (1 + crop_jitter), then randomly cropped."""
        check_range("size", size, 16)
        check_range("channels", channels, 1)
        check_range("epochs", epochs, 1)
        check_range("batch_size", batch_size, 1)
        check_range("lr", lr, 0, inclusive=False)
        check_range("weight_decay", weight_decay, 0)
        check_range("dropout", dropout, 0, 1)
        check_range("crop_jitter", crop_jitter, 0, 1)
        self.size, self.channels, self.epochs, self.batch_size = size, channels, epochs, batch_size
        self.lr, self.weight_decay, self.dropout = float(lr), float(weight_decay), float(dropout)
        self.hflip, self.crop_jitter = hflip, float(crop_jitter)
        self.model: SmallCNN | None = None
        from torchvision import transforms  # here: importing torchvision costs a second

        normalise = [transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
        self.eval_transform = transforms.Compose([transforms.Resize((size, size)), *normalise])
        jittered = round(size * (1 + self.crop_jitter))
        self.train_transform = transforms.Compose([
            transforms.Resize((jittered, jittered)), transforms.RandomCrop(size),
            *([transforms.RandomHorizontalFlip()] if hflip else []), *normalise])

    def _build(self) -> SmallCNN:
        return SmallCNN(self.channels, self.dropout)

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        first = 1
        if ctx.resume is not None:
            self.load_state_dict(ctx.resume.state)
            first = ctx.resume.epoch + 1
        else:
            self.model = self._build()
        self.model.to(ctx.device)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if ctx.resume is not None:
            optimizer.load_state_dict(ctx.resume.extra["optimizer"])
        loss_fn = nn.BCEWithLogitsLoss()
        with ctx.progress(self.epochs - first + 1) as advance:
            for epoch in range(first, self.epochs + 1):
                self.model.train()
                total, seen = 0.0, 0
                for images, labels in ctx.image_batches(train, self.train_transform, self.batch_size, shuffle=True):
                    loss = loss_fn(self.model(images.to(ctx.device)), labels.float().to(ctx.device))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(labels)
                    seen += len(labels)
                stats = {"train_loss": total / seen}
                ctx.log(f"epoch {epoch}/{self.epochs} train_loss={stats['train_loss']:.4f}")
                ctx.save_checkpoint(epoch, stats, resume={"optimizer": optimizer.state_dict()})
                advance(**stats)

    @torch.no_grad()
    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        self.model.to(ctx.device).eval()
        scores = [torch.sigmoid(self.model(images.to(ctx.device))).cpu()
                  for images, _ in ctx.image_batches(samples, self.eval_transform, 2 * self.batch_size)]
        return torch.cat(scores).numpy().astype(np.float64)

    def state_dict(self) -> dict:
        return {"channels": self.channels, "dropout": self.dropout, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.channels, self.dropout = state["channels"], state["dropout"]
        with torch.random.fork_rng(devices=[]):  # initial weights are overwritten: leave the RNG alone
            self.model = self._build()
        self.model.load_state_dict(state["model"])


@hookimpl
def register_detectors(register):
    register("pixel-cnn", PixelCNN)
