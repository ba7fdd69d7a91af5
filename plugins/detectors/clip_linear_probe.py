"""`clip-linear-probe`: logistic regression on the frozen image embedding, its regularisation
chosen on the training domain's validation split — the linear-probe recipe of UnivFD (Ojha et al.,
CVPR 2023) and Cozzolino et al. (CVPRW 2024)."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.detector import FitContext, Samples, check_range
from benchmark.hookspecs import hookimpl
from benchmark_plugins.detectors.frozen_clip import FrozenClipDetector


class ClipLinearProbe(FrozenClipDetector):
    def __init__(self, backbone: str = "ViT-B-32", pretrained: str = "openai",
                 c_values: list = (0.01, 0.1, 1.0, 10.0, 100.0), max_iter: int = 1000):
        """``c_values``: inverse regularisation strengths tried; the best val AUC wins."""
        if not c_values:
            raise ValueError("c_values: give at least one value")
        for c in c_values:
            if isinstance(c, bool) or not isinstance(c, (int, float)):
                raise ValueError(f"c_values: must be numbers, got {c!r}")
            check_range("c_values", c, 0, inclusive=False)
        check_range("max_iter", max_iter, 1)
        super().__init__(backbone, pretrained)
        self.c_values = [float(c) for c in c_values]
        self.max_iter = max_iter
        self.coef: torch.Tensor | None = None
        self.intercept: torch.Tensor | None = None
        self.c = float("nan")

    def fit(self, train: Samples, val: Samples | None, ctx: FitContext) -> None:
        from sklearn.linear_model import LogisticRegression  # here: sklearn costs half a second to import
        from sklearn.metrics import roc_auc_score

        x, y = train.features.numpy().astype(np.float64), train.labels
        best = None
        for c in self.c_values:
            model = LogisticRegression(C=c, max_iter=self.max_iter).fit(x, y)
            scores = model.decision_function(val.features.numpy().astype(np.float64))
            auc = roc_auc_score(val.labels, scores) if len(np.unique(val.labels)) == 2 else float("nan")
            ctx.log(f"C={c:g}: val_auc={auc:.4f}")
            if best is None or auc > best[0]:
                best = (auc, c, model)
        auc, self.c, model = best
        self.coef = torch.from_numpy(model.coef_[0].copy())
        self.intercept = torch.tensor(float(model.intercept_[0]), dtype=torch.float64)
        ctx.save_checkpoint(1, {"C": self.c, "val_auc": float(auc)})

    def predict(self, samples: Samples, ctx: FitContext) -> np.ndarray:
        logits = samples.features.double() @ self.coef + self.intercept
        return torch.sigmoid(logits).numpy()

    def state_dict(self) -> dict:
        return {"coef": self.coef, "intercept": self.intercept, "C": self.c}

    def load_state_dict(self, state: dict) -> None:
        self.coef, self.intercept, self.c = state["coef"], state["intercept"], state["C"]


@hookimpl
def register_detectors(register):
    register("clip-linear-probe", ClipLinearProbe)
