import contextlib

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.detector import FitContext, Samples
from benchmark_plugins.detectors.clip_adapter import AdapterHead, ClipAdapter
from benchmark_plugins.prompts.default import DEFAULT


def embeddings(n: int, dim: int, shift: float, seed: int) -> Samples:
    """Normalised embeddings where fakes lean along one direction: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    x = torch.randn(n, dim, generator=g)
    x[:, 0] += shift * (2 * labels - 1)
    return Samples(paths=[f"{i}.png" for i in range(n)], labels=labels.numpy(),
                   features=torch.nn.functional.normalize(x, dim=1))


def context(dim: int, saved: list) -> FitContext:
    texts = torch.nn.functional.normalize(torch.randn(len(DEFAULT.real) + len(DEFAULT.fake), dim), dim=1)

    @contextlib.contextmanager
    def progress(total):
        yield lambda **stats: None

    return FitContext(device=torch.device("cpu"), seed=0, prompts=DEFAULT, log=lambda m: None,
                      encode_text=lambda t: texts[: len(t)], progress=progress,
                      save_checkpoint=lambda epoch, stats, resume=None: saved.append((epoch, stats)))


def test_learns_a_separable_problem_and_checkpoints_every_epoch():
    saved = []
    detector = ClipAdapter(epochs=15, lr=1e-3)
    ctx = context(64, saved)
    detector.fit(embeddings(400, 64, 1.5, 0), embeddings(100, 64, 1.5, 1), ctx)
    test = embeddings(200, 64, 1.5, 2)
    scores = detector.predict(test, ctx)
    assert scores.shape == (200,) and np.all((scores >= 0) & (scores <= 1))
    assert roc_auc_score(test.labels, scores) > 0.9
    assert [epoch for epoch, _ in saved] == list(range(1, 16))
    assert saved[-1][1]["train_loss"] < saved[0][1]["train_loss"]


def test_state_dict_round_trip_scores_identically():
    ctx = context(32, [])
    detector = ClipAdapter(epochs=2, hidden_dim=16)
    detector.fit(embeddings(64, 32, 1.0, 0), None, ctx)
    test = embeddings(20, 32, 1.0, 3)
    restored = ClipAdapter(hidden_dim=99)  # the saved state, not the constructor, decides the shape
    restored.load_state_dict(detector.state_dict())
    np.testing.assert_allclose(restored.predict(test, ctx), detector.predict(test, ctx), rtol=1e-6)


def test_similarity_features_are_mean_real_mean_fake_and_difference():
    real = torch.eye(4)[:2]  # prompts e0, e1
    fake = torch.eye(4)[2:]  # prompts e2, e3
    head = AdapterHead(4, hidden_dim=8, dropout=0.0, real_text=real, fake_text=fake)
    image = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0.6, 0.8]])
    features = head.similarity_features(image)
    torch.testing.assert_close(features, torch.tensor([[0.5, 0.0, -0.5], [0.0, 0.7, 0.7]]))


@pytest.mark.parametrize("options, message", [
    ({"epochs": 0}, "epochs: must be >= 1"), ({"lr": 0.0}, "lr: must be > 0"), ({"lr": float("nan")}, "lr: must be a finite"),
    ({"dropout": 1.0}, "dropout: must be in"), ({"dropout": -0.1}, "dropout: must be >= 0"),
    ({"weight_decay": -1e-3}, "weight_decay: must be >= 0"), ({"batch_size": 0}, "batch_size: must be >= 1"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ClipAdapter(**options)
