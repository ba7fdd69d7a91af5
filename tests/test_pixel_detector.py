"""A detector that needs pixels, not frozen embeddings, runs through the same harness."""

import json

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.linear_model import LogisticRegression
from torchvision import transforms

from benchmark import plugins
from benchmark.cli import main
from benchmark.detector import Detector
from benchmark.hookspecs import hookimpl

from conftest import make_class_folders

TRANSFORM = transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor()])


class MeanColour(Detector):
    """Logistic regression on each image's mean RGB, read through ctx.image_batches."""

    def __init__(self, batch_size: int = 8):
        self.batch_size = batch_size
        self.model = LogisticRegression()

    def _features(self, samples, ctx, shuffle=False):
        xs, ys = [], []
        for images, labels in ctx.image_batches(samples, TRANSFORM, self.batch_size, shuffle):
            xs.append(images.mean(dim=(2, 3)))
            ys.append(labels)
        return torch.cat(xs).numpy(), torch.cat(ys).numpy()

    def fit(self, train, val, ctx):
        x, y = self._features(train, ctx, shuffle=True)
        self.model.fit(x, y)
        ctx.save_checkpoint(1, {})

    def predict(self, samples, ctx):
        x, _ = self._features(samples, ctx)
        return self.model.predict_proba(x)[:, 1]

    def state_dict(self):  # a scikit-learn model is saved as its arrays: checkpoints load weights-only
        return {"coef": torch.from_numpy(self.model.coef_), "intercept": torch.from_numpy(self.model.intercept_),
                "classes": torch.from_numpy(self.model.classes_)}

    def load_state_dict(self, state):
        self.model.coef_, self.model.intercept_ = state["coef"].numpy(), state["intercept"].numpy()
        self.model.classes_ = state["classes"].numpy()


class MeanColourPlugin:
    @staticmethod
    @hookimpl
    def register_detectors(register):
        register("mean-colour", MeanColour)


def test_pixel_detector_trains_and_scores_through_the_cli(tmp_path):
    # colour images only: the classes differ by tint, which a grey image would hide
    faces_root = make_class_folders(tmp_path / "data", {"Real_youtube": (0, 0, 0), "FaceSwap": (60, -30, 0)},
                                    videos=12, modes=[("jpg", "RGB"), ("png", "RGB")])
    suite = tmp_path / "pixels.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "pixels",
        "data": {"real": "Real_youtube"},
        "pairings": [{"train": "FaceSwap", "test": ["FaceSwap"]}],
        "detectors": {"mean-colour": {"batch_size": 4}},
    }))
    pm = plugins.get_manager()
    pm.register(MeanColourPlugin, name="mean-colour-test")
    try:
        code = main(["run", str(suite), "--data-dir", str(faces_root), "--output-dir", str(tmp_path / "out"),
                     "--workers", "0"])
        predicted = main(["predict", str(tmp_path / "out"), str(faces_root / "FaceSwap"), "--detector", "mean-colour",
                          "--train", "FaceSwap", "--out", str(tmp_path / "scores.csv"), "--workers", "0"])
    finally:
        pm.unregister(MeanColourPlugin)
    assert code == 0 and predicted == 0
    ran = pd.read_csv(tmp_path / "out/mean-colour/train-FaceSwap/seed-42/test-FaceSwap/test_predictions.csv")
    merged = ran.merge(pd.read_csv(tmp_path / "scores.csv"), on="path", suffixes=("_run", "_predict"))
    assert len(merged) == int(ran.label.sum()) > 0  # pixels read through ctx.image_batches give the same scores
    np.testing.assert_allclose(merged.score_run, merged.score_predict, rtol=1e-9)
    row = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert row["detector"] == "mean-colour" and row["auc"] > 0.9
    assert (tmp_path / "out/mean-colour/train-FaceSwap/seed-42/final_model.pth").exists()
    assert np.isfinite(row["eer"])
