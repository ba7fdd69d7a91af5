"""The plan: which encodings, training runs and cells a suite implies, given its data and the
cells already finished. Pure: no files, no models; an executor carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.data.dataset import Dataset
from benchmark.detector import EncoderSpec
from benchmark.perturbations import CLEAN
from benchmark.suite import Suite


@dataclass(frozen=True)
class TrainingRun:
    """Fit ``detector`` on ``train`` with ``seed`` (or load it, in test mode), then score ``cells``:
    (test set, perturbation) pairs, the clean test set being perturbation ``none``."""

    detector: str
    train: str
    seed: int
    cells: tuple[tuple[str, str], ...]

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(test for test, _ in self.cells))

    @property
    def label(self) -> str:
        return f"{self.detector} on {self.train} (seed {self.seed})"


@dataclass(frozen=True)
class Plan:
    # (encoder, perturbation) -> every image path the pending work reads that way; degraded images
    # are only ever test images
    encodings: dict[tuple[EncoderSpec, str], list[str]]
    runs: tuple[TrainingRun, ...]
    finished: int  # cells already in the store

    @property
    def cells(self) -> int:
        return sum(len(run.cells) for run in self.runs)


def paths_read(suite: Suite, dataset: Dataset, runs, mode: str, pseudo=None) -> list[str]:
    """Every clean image ``runs`` read: a training set's train and val parts (for a generator's, its
    fixed pseudo-fakes too: what a frozen encoder encodes), its tests' test parts (a class only
    tested is read only in its test split)."""
    paths = []
    for run in runs:
        if mode != "test":
            paths += dataset.cell(run.train, "train").paths + dataset.cell(run.train, "val").paths
            if pseudo is not None and run.train in dataset.generated:
                paths += pseudo.names(run.train, "train", fresh=False) + pseudo.names(run.train, "val", fresh=False)
        if mode != "train":
            for test in dict.fromkeys(t for t, p in run.cells if p == CLEAN):
                paths += dataset.cell(test, "test").paths
    return list(dict.fromkeys(paths))


def make_plan(suite: Suite, dataset: Dataset, specs: dict[str, EncoderSpec | None], done: set[tuple],
              mode: str, pseudo=None) -> Plan:
    """``specs``: detector name -> its frozen encoder (None for pixel detectors); ``done``: the
    (detector, train, test, seed, perturbation) keys of finished cells. In train mode every training
    run is planned (with no cells); otherwise only those with a cell left to score."""
    runs = []
    for detector in suite.detectors:
        for train in suite.train_sets:
            for seed in suite.seeds:
                cells = tuple((t, p) for t in suite.tests_for(train) for p in suite.perturbations
                              if (detector, train, t, seed, p) not in done)
                if mode == "train":
                    runs.append(TrainingRun(detector, train, seed, ()))
                elif cells:
                    runs.append(TrainingRun(detector, train, seed, cells))
    encodings: dict[tuple[EncoderSpec, str], list[str]] = {}
    for spec in dict.fromkeys(s for s in specs.values() if s is not None):
        mine = [r for r in runs if specs[r.detector] == spec]
        if not mine:
            continue
        encodings[spec, CLEAN] = paths_read(suite, dataset, mine, mode, pseudo)
        for perturbation in suite.perturbations[1:] if mode != "train" else ():
            tests = dict.fromkeys(t for r in mine for t, p in r.cells if p == perturbation)
            paths = list(dict.fromkeys(path for t in tests for path in dataset.cell(t, "test").paths))
            if paths:
                encodings[spec, perturbation] = paths
    return Plan({k: v for k, v in encodings.items() if v}, tuple(runs), finished=len(done))
