"""Suite sections and checks that stand on their own: names, the ``sets:`` and ``report:`` sections
(kept out of suite.py so that file stays the schema and its assembly)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from benchmark.errors import BenchmarkError

SEED_RANGE = (0, 2**32 - 1)  # numpy's seed range


@dataclass(frozen=True)
class ClassSet:
    """A named train or test set: its own real classes and fake classes (e.g. Celeb-DF's)."""

    real: tuple[str, ...]
    fake: tuple[str, ...]


@dataclass(frozen=True)
class Pairing:
    train: str
    test: tuple[str, ...]


@dataclass(frozen=True)
class ReportConfig:
    bootstrap: int = 1000
    confidence: float = 0.95
    bootstrap_seed: int = 0
    roc_scale: str = "linear"
    figures: tuple[str, ...] = ("png",)


ROC_SCALES = ("linear", "log")
FIGURE_FORMATS = ("png", "pdf", "svg")


def check_name(value, key: str, source: str) -> str:
    """Names become folder names in the run dir: nothing that could point outside it."""
    if not isinstance(value, str) or not value.strip():
        raise BenchmarkError(f"{source}: '{key}' must be a non-empty name")
    if any(c in value for c in "/\\\0") or value.startswith(".") or value != value.strip():
        raise BenchmarkError(f"{source}: '{key}' must be a plain folder name (no path separators, no leading '.' "
                             f"or spaces), got {value!r}")
    return value


def names(value, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise BenchmarkError(f"{source}: '{key}' must be a name or a non-empty list of names")
    return tuple(check_name(v, f"{key}[{i}]", source) for i, v in enumerate(value))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_sets(value, real: str, source: str) -> dict[str, ClassSet]:
    """``sets: {NAME: {real: [...], fake: [...]}}``; a class is real everywhere or fake everywhere."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BenchmarkError(f"{source}: 'sets' must map set names to {{real: [classes], fake: [classes]}}")
    sets, kinds = {}, {real: "real"}
    for name, spec in value.items():
        check_name(name, f"sets.{name}", source)
        if not isinstance(spec, dict) or set(spec) != {"real", "fake"}:
            raise BenchmarkError(f"{source}: 'sets.{name}' must have exactly the keys real and fake, "
                                 f"e.g. {{real: [Celeb-real], fake: [Celeb-synthesis]}}")
        parts = {kind: names(spec[kind], f"sets.{name}.{kind}", source) for kind in ("real", "fake")}
        for kind, classes in parts.items():
            for cls in classes:
                if kinds.setdefault(cls, kind) != kind:
                    raise BenchmarkError(f"{source}: 'sets.{name}.{kind}' lists '{cls}', which is {kinds[cls]} "
                                         "elsewhere; a class is real everywhere or fake everywhere")
        sets[name] = ClassSet(parts["real"], parts["fake"])
    for name in sets:
        if name in kinds:
            raise BenchmarkError(f"{source}: set name '{name}' is also a class name; rename the set")
    return sets


def parse_report(report: Mapping, key: str, source: str) -> ReportConfig:
    """The report section (also used for `benchmark report` flags, named by ``key``)."""
    bootstrap = report["bootstrap"]
    if not isinstance(bootstrap, int) or isinstance(bootstrap, bool) or not 0 <= bootstrap <= 100_000:
        raise BenchmarkError(f"{source}: '{key}.bootstrap' must be a whole number of resamples, 0 to 100000 "
                             f"(0 turns intervals off), got {bootstrap!r}")
    confidence = report["confidence"]
    if not is_number(confidence) or not 0.5 <= confidence < 1:
        raise BenchmarkError(f"{source}: '{key}.confidence' must be a level such as 0.95 (0.5 to <1), got {confidence!r}")
    seed = report["bootstrap_seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise BenchmarkError(f"{source}: '{key}.bootstrap_seed' must be an integer 0..{SEED_RANGE[1]}, got {seed!r}")
    if report["roc_scale"] not in ROC_SCALES:
        raise BenchmarkError(f"{source}: '{key}.roc_scale' must be linear or log, got {report['roc_scale']!r}")
    figures = [report["figures"]] if isinstance(report["figures"], str) else report["figures"]
    if not isinstance(figures, list) or not figures or any(f not in FIGURE_FORMATS for f in figures):
        raise BenchmarkError(f"{source}: '{key}.figures' must list formats among {', '.join(FIGURE_FORMATS)}, "
                             f"got {report['figures']!r}")
    return ReportConfig(bootstrap=bootstrap, confidence=float(confidence), bootstrap_seed=seed,
                        roc_scale=report["roc_scale"], figures=tuple(dict.fromkeys(figures)))


def parse_generators(value, source: str) -> dict[str, dict]:
    """``generators: {NAME: {options} | null}`` (or a list of names): pseudo-fake generators whose
    names are training sets; the options are checked against the plugin when a run resolves them."""
    if value is None:
        return {}
    if isinstance(value, list):
        value = {name: None for name in names(value, "generators", source)}
    if not isinstance(value, dict):
        raise BenchmarkError(f"{source}: 'generators' must map generator names to their options, "
                             f"e.g. {{sbi: {{per_image: 4}}}}")
    out = {}
    for name, options in value.items():
        check_name(name, f"generators.{name}", source)
        if options is not None and not isinstance(options, dict):
            raise BenchmarkError(f"{source}: 'generators.{name}' must be a mapping of options (or empty)")
        out[name] = dict(options or {})
    return out


def check_generator_names(generators, pairings, sets, real: str, source: str) -> None:
    """A generator's name is a training set's only: not a set's or the real class's, in no test list."""
    for name in generators:
        if name in sets or name == real:
            raise BenchmarkError(f"{source}: generator '{name}' (generators.{name}) has the name of a "
                                 f"{'set' if name in sets else 'real class'}; rename one of them")
    for i, pairing in enumerate(pairings):
        made = [t for t in pairing.test if t in generators]
        if made:
            raise BenchmarkError(f"{source}: pairings[{i}].test names the generator '{made[0]}': pseudo-fakes are a "
                                 "training set only; test on real manipulations")


def parse_pairings(pairings, source: str) -> list[Pairing]:
    if isinstance(pairings, dict):  # {matrix: [A, B, ...]}: every train x every test
        if set(pairings) != {"matrix"}:
            raise BenchmarkError(f"{source}: 'pairings' as a mapping takes only 'matrix: [A, B, ...]'")
        classes = names(pairings["matrix"], "pairings.matrix", source)
        return [Pairing(c, classes) for c in classes]
    if not isinstance(pairings, list) or not pairings:
        raise BenchmarkError(f"{source}: 'pairings' must be a non-empty list of {{train: X, test: [Y, ...]}} "
                             f"or {{matrix: [A, B, ...]}}")
    parsed = []
    for i, pairing in enumerate(pairings):
        key = f"pairings[{i}]"
        if not isinstance(pairing, dict):
            raise BenchmarkError(f"{source}: '{key}' must be a mapping {{train: X, test: [Y, ...]}}")
        for k in pairing:
            if k not in ("train", "test"):
                raise BenchmarkError(f"{source}: unknown suite key '{key}.{k}' (expected train, test)")
        train = check_name(pairing.get("train"), f"{key}.train", source)
        parsed.append(Pairing(train, names(pairing.get("test"), f"{key}.test", source)))
    return parsed
