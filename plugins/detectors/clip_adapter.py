"""The reference detector: frozen CLIP image embeddings + text-prompt similarity features,
a small trainable adapter and a classification head (the seed's ForgeryDetector).

It trains on embeddings the harness computes once, so an epoch over thousands of images is a few
matrix multiplications, not a pass of the image encoder.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.detector import FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.frozen_clip import FrozenClipDetector, prompt_embeddings, similarities


class AdapterHead(nn.Module):
    """[adapter(image) ; similarity features] -> logit of P(fake).

    Ablations: without ``real_text``/``fake_text`` the head sees the adapter alone; without the
    adapter (``adapter=False``) it sees the three similarity features alone."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float, real_text: torch.Tensor | None = None,
                 fake_text: torch.Tensor | None = None, adapter: bool = True):
        super().__init__()
        self.text_features = real_text is not None
        if not (self.text_features or adapter):
            raise ValueError("text_features: the head needs the adapter, the text features or both")
        if self.text_features:
            # frozen prompt embeddings travel with the weights, so scoring needs no text encoder
            self.register_buffer("real_text", real_text.clone())  # (n_real_prompts, dim)
            self.register_buffer("fake_text", fake_text.clone())  # (n_fake_prompts, dim)
        self.adapter = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, hidden_dim)
        ) if adapter else None
        inputs = (hidden_dim if adapter else 0) + (3 if self.text_features else 0)
        self.head = nn.Sequential(
            nn.Linear(inputs, hidden_dim // 2), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim // 2, 1)
        )

    def similarity_features(self, image: torch.Tensor) -> torch.Tensor:
        return similarities(image, self.real_text, self.fake_text)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        parts = ([self.adapter(image)] if self.adapter is not None else []) + (
            [self.similarity_features(image)] if self.text_features else [])
        return self.head(torch.cat(parts, dim=1)).squeeze(1)


class ClipAdapter(FrozenClipDetector):
    """The reference detector. ``text_features: false`` and ``adapter: false`` are its ablations."""

    def __init__(
        self,
        backbone: str = "ViT-B-32",
        pretrained: str = "openai",
        epochs: int = 15,
        batch_size: int = 32,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        hidden_dim: int = 256,
        dropout: float = 0.1,
        text_features: bool = True,
        adapter: bool = True,
    ):
        # types are checked by the harness from these annotations; ranges here
        check_range("epochs", epochs, 1)
        check_range("batch_size", batch_size, 1)
        check_range("lr", lr, 0, inclusive=False)
        check_range("weight_decay", weight_decay, 0)
        check_range("hidden_dim", hidden_dim, 2)
        check_range("dropout", dropout, 0, 1)
        if not (text_features or adapter):
            raise ValueError("text_features: with adapter: false too, the head would see nothing")
        super().__init__(backbone, pretrained)
        self.text_features = text_features
        self.adapter = adapter
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.hidden_dim = hidden_dim
        self.dropout = float(dropout)
        self.model: AdapterHead | None = None

    def uses_text(self) -> str | None:
        return "set text_features: false" if self.text_features else None

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        if ctx.resume is not None:  # an interrupted run: continue after its last finished epoch
            self.load_state_dict(ctx.resume.state)
            self.model.to(ctx.device)
        else:
            real_text, fake_text = prompt_embeddings(ctx) if self.text_features else (None, None)
            self.model = AdapterHead(train.features.shape[1], self.hidden_dim, self.dropout, real_text, fake_text,
                                     self.adapter).to(ctx.device)
        # fused: one kernel per step instead of one per parameter tensor (the steps are tiny)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay, fused=True)
        generator = torch.Generator().manual_seed(ctx.seed)
        first = 1
        if ctx.resume is not None:
            optimizer.load_state_dict(ctx.resume.extra["optimizer"])
            generator.set_state(ctx.resume.extra["shuffle"])
            first = ctx.resume.epoch + 1
        loss_fn = nn.BCEWithLogitsLoss()
        features = train.features.to(ctx.device)
        labels = torch.as_tensor(train.labels, dtype=torch.float32, device=ctx.device)

        with ctx.progress(self.epochs - first + 1) as advance:
            for epoch in range(first, self.epochs + 1):
                self.model.train()
                order = torch.randperm(len(features), generator=generator).to(ctx.device)
                total = 0.0
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    loss = loss_fn(self.model(features[batch]), labels[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(batch)
                stats = {"train_loss": total / len(order)}
                if val is not None and len(val):
                    stats["val_loss"] = float(loss_fn(self._logits(val, ctx), torch.as_tensor(
                        val.labels, dtype=torch.float32, device=ctx.device)))
                ctx.log(f"epoch {epoch}/{self.epochs} " + " ".join(f"{k}={v:.4f}" for k, v in stats.items()))
                ctx.save_checkpoint(epoch, stats, resume={"optimizer": optimizer.state_dict(),
                                                          "shuffle": generator.get_state()})
                advance(**stats)

    @torch.no_grad()
    def _logits(self, samples: Samples, ctx: FitContext) -> torch.Tensor:
        self.model.to(ctx.device).eval()
        return self.model(samples.features.to(ctx.device))

    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        return torch.sigmoid(self._logits(samples, ctx)).cpu().numpy().astype(np.float64)

    def state_dict(self) -> dict:
        return {"hidden_dim": self.hidden_dim, "dropout": self.dropout,
                "embedding_dim": self._embedding_dim(), "adapter": self.model.adapter is not None,
                "model": self.model.state_dict()}

    def _embedding_dim(self) -> int:
        if self.model.adapter is not None:
            return self.model.adapter[0].in_features
        return self.model.real_text.shape[1]

    def load_state_dict(self, state: dict) -> None:
        weights = state["model"]
        # the initial weights are overwritten: drawing them must not move the global RNG, or a
        # resumed run's dropout would differ from an uninterrupted one
        with torch.random.fork_rng(devices=[]):
            self.model = AdapterHead(state["embedding_dim"], state["hidden_dim"], state["dropout"],
                                     weights.get("real_text"), weights.get("fake_text"), state["adapter"])
        self.model.load_state_dict(weights)


@hookimpl
def register_detectors(register):
    register("clip-adapter", ClipAdapter)
