"""Run identity: a fingerprint of everything that decides a run's numbers, and how two differ.

A run dir is bound to its fingerprint (``identity.json``). The same fingerprint resumes; a
different one is refused naming what differs; an *additive* difference (more seeds, test sets,
training sets, detectors or metrics, nothing changed) extends the run when asked (``--extend``).

Parts:

* ``settings``: the resolved suite's data, selection and prompt settings (data root absolute);
* ``data``: per class, the number of files and a digest of (path, split, sha256) of each;
* ``detectors``: per detector (variant) the plugin it uses, its options, the plugin package +
  version, the encoder identity and the prompt texts (a plugin update may change a named set);
* ``harness``: the harness version; ``seeds``, ``cells`` (train -> tests) and ``metrics``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

import pandas as pd

IDENTITY = "identity.json"


def harness_version() -> str:
    try:
        return metadata.version("forgery-benchmark")
    except metadata.PackageNotFoundError:
        return "unknown"


def data_digests(table: pd.DataFrame) -> dict[str, dict]:
    """class -> {files, sha256 of its sorted (path, split, sha256) rows}."""
    hashes: dict[str, list] = {}  # class -> [sha256 of its rows joined by newlines, rows]
    # plain lists, not pandas rows: at a million images iterating a Series costs seconds; the rows
    # arrive nearly sorted (listed folder by folder), which Python's sort finishes in linear time
    columns = (table[c].tolist() for c in ("path", "class", "split", "sha256"))
    for path, cls, split, sha in sorted(zip(*columns)):
        entry = hashes.get(cls)
        if entry is None:
            entry = hashes[cls] = [hashlib.sha256(), 0]
        entry[0].update((("\n" if entry[1] else "") + f"{path}\t{split}\t{sha}").encode())  # rows joined by newlines
        entry[1] += 1
    return {cls: {"files": hashes[cls][1], "sha256": hashes[cls][0].hexdigest()} for cls in sorted(hashes)}



def fingerprint(suite, table: pd.DataFrame, detectors, encoder_keys: dict, metrics: list[str],
                digests: dict | None = None, generators: dict | None = None) -> dict:
    """``digests``: :func:`data_digests` of ``table`` when already computed; ``generators``: the
    suite's resolved pseudo-fake generators (recorded only when there are some, so a run from before
    them keeps its identity)."""
    raw = suite.raw
    extra = {"generators": {name: {**g.identity, "per_image": g.per_image, "plugin": g.source}
                            for name, g in generators.items()}} if generators else {}
    return {**extra,
        "harness": harness_version(),
        "settings": {"data": {k: v for k, v in raw["data"].items()}, "selection": dict(raw["selection"]),
                     "prompts": raw["prompts"]},
        "data": digests if digests is not None else data_digests(table),
        # every option as it runs (defaults included); which of them are defaults, so that an option a
        # plugin adds later, at its default, does not make an older run another experiment
        "detectors": {d.name: {"use": d.plugin, "options": d.resolved_options, "defaults": d.at_default,
                               "plugin": d.source,
                               "encoder": encoder_keys.get(d.name),
                               "prompts": {"real": list(d.prompts.real), "fake": list(d.prompts.fake)}}
                      for d in detectors},
        "seeds": list(suite.seeds),
        "cells": {train: list(suite.tests_for(train)) for train in suite.train_sets},
        "metrics": list(metrics),
        "perturbations": list(suite.perturbations),
    }


def _flat(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        out = {}
        for key, child in value.items():
            out.update(_flat(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _show(value) -> str:
    return "absent" if value is _MISSING else json.dumps(value, default=str)


_MISSING = object()


def _default(path: str):
    """The schema default of ``settings.data.video_score`` and the like (or _MISSING)."""
    from benchmark.suite import SCHEMA

    value = SCHEMA
    for part in path.split(".")[1:]:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def compare(old: dict, new: dict, changed_files=None) -> tuple[list[str], list[str]]:
    """(differences, additions), each a list of one-line descriptions. ``changed_files(cls)``
    explains a data difference in files (from the run's splits.csv) when given."""
    differences, additions = [], []
    for key in ("harness", "settings", "generators"):
        a, b = _flat(old.get(key), key), _flat(new.get(key), key)
        for path in sorted(set(a) | set(b)):
            before = a.get(path, _MISSING)
            if before is _MISSING and b.get(path) == _default(path):
                continue  # a suite key added to the harness later, at its default: the run is the same
            if before != b.get(path, _MISSING):
                differences.append(f"{path}: {_show(before)} -> {_show(b.get(path, _MISSING))}")
    for cls in sorted(set(old["data"]) | set(new["data"])):
        if cls not in new["data"]:
            continue  # a class no cell uses any more is a removal, caught by cells below
        if cls not in old["data"]:
            additions.append(f"data: new class {cls}")
        elif old["data"][cls] != new["data"][cls]:
            detail = changed_files(cls) if changed_files else None
            differences.append(f"data: {cls}: {detail or 'files or their content changed'}")
    for name in sorted(set(old["detectors"]) | set(new["detectors"])):
        if name not in new["detectors"]:
            differences.append(f"detectors.{name}: removed (the run has its cells)")
        elif name not in old["detectors"]:
            additions.append(f"detector {name}")
        else:
            a, b = _flat(old["detectors"][name]), _flat(new["detectors"][name])
            defaults = set(new["detectors"][name].get("defaults", ()))
            for path in sorted(set(a) | set(b)):
                if path.startswith("defaults"):
                    continue  # which options are at their default: the values themselves are compared
                if a.get(path, _MISSING) is _MISSING and path.removeprefix("options.") in defaults:
                    continue  # at its default, where an older harness recorded only the options set: the same run
                if a.get(path, _MISSING) != b.get(path, _MISSING):
                    where = path.removeprefix("options.") if path.startswith("options.") else f"({path})"
                    differences.append(f"detectors.{name}.{where}: {_show(a.get(path, _MISSING))} -> "
                                       f"{_show(b.get(path, _MISSING))}")
    removed_seeds = [s for s in old["seeds"] if s not in new["seeds"]]
    if removed_seeds:
        differences.append(f"seeds: {removed_seeds} removed (the run has their cells)")
    additions += [f"seed {s}" for s in new["seeds"] if s not in old["seeds"]]
    for train, tests in old["cells"].items():
        missing = [t for t in tests if t not in new["cells"].get(train, [])]
        if missing:
            differences.append(f"pairings: train {train} no longer tests {', '.join(missing)} (the run has those cells)")
    for train, tests in new["cells"].items():
        extra = [t for t in tests if t not in old["cells"].get(train, [])]
        if extra:
            additions.append(f"train {train} -> test {', '.join(extra)}")
    removed_metrics = [m for m in old["metrics"] if m not in new["metrics"]]
    if removed_metrics:
        differences.append(f"metrics: {', '.join(removed_metrics)} removed")
    additions += [f"metric {m}" for m in new["metrics"] if m not in old["metrics"]]
    before, after = old.get("perturbations", ["none"]), new.get("perturbations", ["none"])  # older runs: clean only
    removed = [p for p in before if p not in after]
    if removed:
        differences.append(f"perturbations: {', '.join(removed)} removed (the run has those cells)")
    additions += [f"perturbation {p}" for p in after if p not in before]
    return differences, additions


def changed_files_by_class(old_table: pd.DataFrame, new_table: pd.DataFrame):
    """A function class -> "N files changed content, M added, K removed, S changed split"."""
    def explain(cls: str) -> str:
        a = old_table[old_table["class"] == cls].set_index("path")
        b = new_table[new_table["class"] == cls].set_index("path")
        common = a.index.intersection(b.index)
        parts = [(int((a.loc[common, "sha256"] != b.loc[common, "sha256"]).sum()), "changed content"),
                 (len(b.index.difference(a.index)), "added"), (len(a.index.difference(b.index)), "removed"),
                 (int((a.loc[common, "split"] != b.loc[common, "split"]).sum()), "changed split")]
        text = ", ".join(f"{n} {what}" for n, what in parts if n)
        return text.replace("changed content", "files changed content", 1) if text else ""
    return explain
