"""The plan: which encodings, training runs and cells a suite implies, given its data and the
cells already finished. Pure: no files, no models; an executor carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.data.dataset import Dataset
from benchmark.detector import EncoderSpec
from benchmark.suite import Suite


@dataclass(frozen=True)
class TrainingRun:
    """Fit ``detector`` on real + ``train`` with ``seed`` (or load it, in test mode), then score ``tests``."""

    detector: str
    train: str
    seed: int
    tests: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.detector} on {self.train} (seed {self.seed})"


@dataclass(frozen=True)
class Plan:
    encodings: dict[EncoderSpec, list[str]]  # encoder -> every image path the pending work reads
    runs: tuple[TrainingRun, ...]
    finished: int  # cells already in the store

    @property
    def cells(self) -> int:
        return sum(len(run.tests) for run in self.runs)


def paths_read(suite: Suite, dataset: Dataset, runs, mode: str) -> list[str]:
    """Every image ``runs`` read: a training set's train and val parts, its tests' test parts (a
    class only tested is read only in its test split)."""
    paths = []
    for run in runs:
        if mode != "test":
            paths += dataset.cell(run.train, "train").paths + dataset.cell(run.train, "val").paths
        if mode != "train":
            for test in run.tests:
                paths += dataset.cell(test, "test").paths
    return list(dict.fromkeys(paths))


def make_plan(suite: Suite, dataset: Dataset, specs: dict[str, EncoderSpec | None], done: set[tuple],
              mode: str) -> Plan:
    """``specs``: detector name -> its frozen encoder (None for pixel detectors); ``done``: the
    (detector, train, test, seed) keys of finished cells. In train mode every training run is
    planned (with no tests); otherwise only those with a cell left to score."""
    runs = []
    for detector in suite.detectors:
        for train in suite.train_sets:
            for seed in suite.seeds:
                tests = tuple(t for t in suite.tests_for(train) if (detector, train, t, seed) not in done)
                if mode == "train":
                    runs.append(TrainingRun(detector, train, seed, ()))
                elif tests:
                    runs.append(TrainingRun(detector, train, seed, tests))
    encodings: dict[EncoderSpec, list[str]] = {}
    for spec in dict.fromkeys(s for s in specs.values() if s is not None):
        mine = [r for r in runs if specs[r.detector] == spec]
        if mine:
            encodings[spec] = paths_read(suite, dataset, mine, mode)
    return Plan(encodings, tuple(runs), finished=len(done))
