"""Suite YAML -> validated, frozen :class:`Suite`. Pure data: ``yaml.safe_load`` only.

Every key is checked against :data:`SCHEMA`; an unknown key is an error that names it, whether it
came from the file or from ``--set dotted.key=value`` (whose value is parsed as YAML).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from benchmark.errors import BenchmarkError

# key -> default; a dict is a nested section; ANY marks free-form content checked elsewhere
ANY = object()
SCHEMA: dict[str, Any] = {
    "name": None,
    "description": "",
    "data": {
        "root": None,
        "real": "Real_youtube",
        "layout": "folders",
        "compression": "c23",  # ffpp layout only
        "splits": None,  # folder with FF++'s train.json, val.json, test.json
        "split": {"train": 0.7, "val": 0.15, "test": 0.15},  # used when there are no split files
        "frames_per_video": None,  # N evenly spaced frames per video; all when null
        "allow_duplicates": False,  # byte-identical files across splits: error, or only a warning
        "fast_decode": False,  # decode JPEGs at reduced scale (faster, slightly different embeddings)
        "synthetic": ANY,  # demo data the harness generates itself (see benchmark.synthetic)
    },
    "selection": {
        "epoch": "best",  # best: the epoch with the highest val AUC; last: the final epoch (the seed's way)
        "threshold": "val",  # val: F1/accuracy threshold chosen on val; or a number such as 0.5
        "oracle": False,  # also report oracle_auc: the best epoch picked on test (optimistic; labelled)
    },
    "pairings": ANY,
    "detectors": ANY,  # detector name -> options, checked against the plugin's factory
    "prompts": "default",
    "metrics": ["auc", "eer", "f1", "accuracy"],
    "seeds": [42],
}
LAYOUTS = ("folders", "ffpp")


@dataclass(frozen=True)
class Pairing:
    train: str
    test: tuple[str, ...]


@dataclass(frozen=True)
class DataConfig:
    root: str | None
    real: str
    layout: str
    split: Mapping[str, float]
    synthetic: Mapping[str, Any] | None
    compression: str = "c23"
    splits: str | None = None
    frames_per_video: int | None = None
    allow_duplicates: bool = False
    fast_decode: bool = False


@dataclass(frozen=True)
class Selection:
    epoch: str = "best"
    threshold: str | float = "val"
    oracle: bool = False


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    data: DataConfig
    pairings: tuple[Pairing, ...]
    detectors: Mapping[str, Mapping[str, Any]]
    prompts: str
    metrics: tuple[str, ...]
    seeds: tuple[int, ...]
    selection: Selection
    source: str  # the file it came from, for messages
    raw: Mapping[str, Any]  # the resolved mapping, written back as suite.yaml

    @property
    def train_sets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.train for p in self.pairings))

    def tests_for(self, train: str) -> tuple[str, ...]:
        """Every test set listed for ``train``, across pairings, in order, once each."""
        tests = [t for p in self.pairings if p.train == train for t in p.test]
        return tuple(dict.fromkeys(tests))

    @property
    def classes(self) -> tuple[str, ...]:
        """Every fake class the suite uses."""
        names = [n for p in self.pairings for n in (p.train, *p.test)]
        return tuple(dict.fromkeys(names))

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.raw), sort_keys=False)


def load_suite(path: str | Path, overrides: list[str] = ()) -> Suite:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BenchmarkError(f"cannot read suite file {path}: {e.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BenchmarkError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise BenchmarkError(f"{path}: a suite must be a YAML mapping with at least 'name' and 'pairings'")
    for override in overrides:
        apply_override(raw, override)
    return parse_suite(raw, source=str(path))


def apply_override(raw: dict, override: str) -> None:
    """``dotted.key=value``: the value is YAML, so lists and mappings work too."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise BenchmarkError(f"--set {override!r}: expected dotted.key=value, e.g. detectors.clip-adapter.epochs=2")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise BenchmarkError(f"--set {key}: value {value!r} is not valid YAML") from None
    parts = key.strip().split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise BenchmarkError(f"--set {key}: '{where}' is not a mapping, cannot set a key inside it")
        node = child
    node[parts[-1]] = parsed


def _check_keys(raw: dict, schema: dict, prefix: str, source: str) -> dict:
    """Unknown keys are errors; missing keys take their defaults."""
    out = {}
    for key in raw:
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise BenchmarkError(f"{source}: unknown suite key '{prefix}{key}'{hint}")
    for key, default in schema.items():
        if isinstance(default, dict):
            value = raw.get(key)
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise BenchmarkError(f"{source}: '{prefix}{key}' must be a mapping")
            value = _check_keys(value, default, f"{prefix}{key}.", source)
        else:
            value = raw.get(key, None if default is ANY else copy.deepcopy(default))
        out[key] = value
    return out


def _str_list(value, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BenchmarkError(f"{source}: '{key}' must be a name or a non-empty list of names")
    return tuple(value)


def parse_suite(raw: dict, source: str = "<suite>") -> Suite:
    raw = _check_keys(raw, SCHEMA, "", source)
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise BenchmarkError(f"{source}: 'name' is required (it names the output folder reports/<name>/)")
    if "/" in raw["name"] or raw["name"].startswith("."):
        raise BenchmarkError(f"{source}: 'name' must be a plain folder name, got {raw['name']!r}")

    data = raw["data"]
    if data["layout"] not in LAYOUTS:
        raise BenchmarkError(f"{source}: 'data.layout' must be one of {', '.join(LAYOUTS)}, got {data['layout']!r}")
    if data["root"] is not None and not isinstance(data["root"], str):
        raise BenchmarkError(f"{source}: 'data.root' must be a path or null")
    if not isinstance(data["real"], str) or not data["real"]:
        raise BenchmarkError(f"{source}: 'data.real' must name the folder holding real images")
    split = data["split"]
    for part, fraction in split.items():
        if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
            raise BenchmarkError(f"{source}: 'data.split.{part}' must be a fraction between 0 and 1, got {fraction!r}")
    if abs(sum(split.values()) - 1.0) > 1e-6:
        raise BenchmarkError(f"{source}: 'data.split' fractions must add up to 1, got {sum(split.values()):g}")
    fpv = data["frames_per_video"]
    if fpv is not None and (not isinstance(fpv, int) or isinstance(fpv, bool) or fpv < 1):
        raise BenchmarkError(f"{source}: 'data.frames_per_video' must be a positive integer or null, got {fpv!r}")
    if data["splits"] is not None and not isinstance(data["splits"], str):
        raise BenchmarkError(f"{source}: 'data.splits' must be a folder path or null")
    for flag in ("allow_duplicates", "fast_decode"):
        if not isinstance(data[flag], bool):
            raise BenchmarkError(f"{source}: 'data.{flag}' must be true or false")
    selection = raw["selection"]
    if selection["epoch"] not in ("best", "last"):
        raise BenchmarkError(f"{source}: 'selection.epoch' must be best or last, got {selection['epoch']!r}")
    if not isinstance(selection["oracle"], bool):
        raise BenchmarkError(f"{source}: 'selection.oracle' must be true or false")
    threshold = selection["threshold"]
    if threshold != "val" and not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                                   and 0 <= threshold <= 1):
        raise BenchmarkError(f"{source}: 'selection.threshold' must be val or a number in [0, 1], got {threshold!r}")
    if data["synthetic"] is not None and not isinstance(data["synthetic"], dict):
        raise BenchmarkError(f"{source}: 'data.synthetic' must be a mapping (or absent)")

    pairings = raw["pairings"]
    if not isinstance(pairings, list) or not pairings:
        raise BenchmarkError(f"{source}: 'pairings' must be a non-empty list of {{train: X, test: [Y, ...]}}")
    parsed_pairings = []
    for i, pairing in enumerate(pairings):
        key = f"pairings[{i}]"
        if not isinstance(pairing, dict):
            raise BenchmarkError(f"{source}: '{key}' must be a mapping {{train: X, test: [Y, ...]}}")
        for k in pairing:
            if k not in ("train", "test"):
                raise BenchmarkError(f"{source}: unknown suite key '{key}.{k}' (expected train, test)")
        if not isinstance(pairing.get("train"), str) or not pairing["train"]:
            raise BenchmarkError(f"{source}: '{key}.train' must name one manipulation folder")
        parsed_pairings.append(Pairing(pairing["train"], _str_list(pairing.get("test"), f"{key}.test", source)))

    detectors = raw["detectors"]
    if not isinstance(detectors, dict) or not detectors:
        raise BenchmarkError(f"{source}: 'detectors' must map at least one detector name to its options")
    for name, options in detectors.items():
        if options is None:
            detectors[name] = {}
        elif not isinstance(options, dict):
            raise BenchmarkError(f"{source}: 'detectors.{name}' must be a mapping of options (or empty)")

    if not isinstance(raw["prompts"], str):
        raise BenchmarkError(f"{source}: 'prompts' must name one prompt set")
    seeds = raw["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise BenchmarkError(f"{source}: 'seeds' must be a non-empty list of integers")
    raw["seeds"] = seeds

    return Suite(
        name=raw["name"],
        description=raw["description"] or "",
        data=DataConfig(
            root=data["root"],
            real=data["real"],
            layout=data["layout"],
            split=MappingProxyType(dict(split)),
            synthetic=MappingProxyType(dict(data["synthetic"])) if data["synthetic"] else None,
            compression=str(data["compression"]),
            splits=data["splits"],
            frames_per_video=fpv,
            allow_duplicates=data["allow_duplicates"],
            fast_decode=data["fast_decode"],
        ),
        selection=Selection(epoch=selection["epoch"], threshold=threshold, oracle=selection["oracle"]),
        pairings=tuple(parsed_pairings),
        detectors=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in detectors.items()}),
        prompts=raw["prompts"],
        metrics=_str_list(raw["metrics"], "metrics", source),
        seeds=tuple(seeds),
        source=source,
        raw=raw,
    )


def _plain(value):
    """MappingProxy/tuple -> dict/list, for YAML dumping."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
