"""Suite YAML -> validated, frozen :class:`Suite`. Pure data: ``yaml.safe_load`` only.

Every key is checked against :data:`SCHEMA`; an unknown key is an error that names it, whether it
came from the file or from ``--set dotted.key=value`` (whose value is parsed as YAML).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from benchmark.errors import BenchmarkError
from benchmark.metrics import VIDEO_SCORES
from benchmark.perturbations import PRESETS, expand
from benchmark.suite_sections import (
    SEED_RANGE,
    ClassSet,
    Pairing,
    ReportConfig,
    check_generator_names,
    check_name,
    is_number,
    names,
    parse_report,
    parse_generators,
    parse_pairings,
    parse_sets,
)
from benchmark.yaml_input import apply_override, check_bytes, parse_yaml

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
        "splits": None,  # "official" (FF++'s, shipped), or a folder with train.json, val.json, test.json
        "split": {"train": 0.7, "val": 0.15, "test": 0.15},  # used when there are no split files
        "frames_per_video": None,  # N evenly spaced frames per video; all when null
        "allow_duplicates": False,  # byte-identical files across splits: error, or only a warning
        "fast_decode": False,  # decode JPEGs at reduced scale (faster, slightly different embeddings)
        "on_bad_image": "skip",  # unreadable images: skip (counted, listed) or fail (stop, listing all)
        "max_bad_fraction": 0.01,  # more unreadable images than this in any class stops the run
        "synthetic": ANY,  # demo data the harness generates itself (see benchmark.data.synthetic)
        "video_score": "mean",  # frame scores -> video score: mean, median or max
        "manifest": "manifest.csv",  # layout manifest: CSV file(s) path,class,video[,split], relative to root
    },
    "selection": {
        "epoch": "best",  # best: the epoch with the highest val AUC; last: the final epoch (the seed's way)
        "threshold": "val",  # val: F1/accuracy threshold chosen on val; or a number such as 0.5
        "oracle": False,  # also report oracle_auc: the best epoch picked on test (optimistic; labelled)
    },
    "report": {  # how results are summarised; changing these never changes a run (not in its identity)
        "bootstrap": 1000,  # bootstrap resamples per confidence interval; 0 turns intervals off
        "confidence": 0.95,
        "bootstrap_seed": 0,  # the resamples depend only on this and the test videos: reports are deterministic
        "roc_scale": "linear",  # or log: a log-scale FPR axis for low-FPR operating points
        "figures": ["png"],  # also pdf and/or svg for papers
    },
    "sets": ANY,  # {NAME: {real: [classes], fake: [classes]}}: a train or test set with its own reals
    "pairings": ANY,  # [{train: X, test: [Y, ...] | all}, ...] or {matrix: [A, B, ...]}
    "detectors": ANY,  # detector name -> options, checked against the plugin's factory
    "prompts": "default",  # the default prompt set: a name, or inline {real: [...], fake: [...]}
    "metrics": ["auc", "eer", "f1", "accuracy"],
    "seeds": [42],
    "perturbations": ["none"],  # test-time degradations, e.g. [none, jpeg:50, blur:2] or the preset gend
    "generators": ANY,  # {NAME: {per_image: K, ...options}}: pseudo-fake generators, named as training sets
}
LAYOUTS = ("folders", "ffpp", "manifest")
BAD_IMAGE_POLICIES = ("skip", "fail")
ALL = "all"  # `test: all`: every manipulation class of the data


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
    on_bad_image: str = "skip"
    max_bad_fraction: float = 0.01
    video_score: str = "mean"
    manifest: tuple[str, ...] = ("manifest.csv",)


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
    prompts: str | Mapping[str, tuple[str, ...]]
    metrics: tuple[str, ...]
    seeds: tuple[int, ...]
    selection: Selection
    source: str  # where it came from, for messages: the file (and any --set keys)
    raw: Mapping[str, Any]  # the resolved mapping, written back as suite.yaml
    report: ReportConfig = ReportConfig()
    sets: Mapping[str, ClassSet] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    perturbations: tuple[str, ...] = ("none",)  # expanded, clean first; checked against the plugins at run time
    path: str = ""  # the suite file, for its relative paths ("" when it came from no file)
    # training sets made of pseudo-fakes: generator name -> its options (see benchmark.pseudo)
    generators: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    @property
    def train_sets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.train for p in self.pairings))

    def tests_for(self, train: str) -> tuple[str, ...]:
        """Every test set listed for ``train``, across pairings, in order, once each."""
        tests = [t for p in self.pairings if p.train == train for t in p.test]
        return tuple(dict.fromkeys(tests))

    @property
    def classes(self) -> tuple[str, ...]:
        """Every class the suite uses besides data.real (a set contributes its real and fake classes)."""
        names = [n for p in self.pairings for n in (p.train, *p.test) if n not in self.generators]
        expanded = [c for n in names for c in ((*self.sets[n].real, *self.sets[n].fake) if n in self.sets else (n,))]
        return tuple(dict.fromkeys(expanded))

    @property
    def test_only_classes(self) -> tuple[str, ...]:
        """Classes no training set uses: they need test images only."""
        trained = {c for t in self.train_sets for c in ((*self.sets[t].real, *self.sets[t].fake) if t in self.sets
                                                          else (self.data.real, t))}
        return tuple(c for c in self.classes if c not in trained)

    @property
    def real_classes(self) -> tuple[str, ...]:
        """data.real and every set's real classes: label 0."""
        return tuple(dict.fromkeys([self.data.real, *(c for s in self.sets.values() for c in s.real)]))

    def with_generators(self, implicit) -> "Suite":
        """Training sets named after a registered generator (``train: sbi``) but not listed under
        ``generators:`` become generators at their defaults (recorded in the saved suite.yaml)."""
        added = [t for t in self.train_sets if t in implicit and t not in self.generators and t not in self.sets]
        if not added:
            return self
        raw = copy.deepcopy(_plain(self.raw))
        raw["generators"] = {**(raw.get("generators") or {}), **{name: {} for name in added}}
        generators = {**self.generators, **{name: MappingProxyType({}) for name in added}}
        check_generator_names(generators, self.pairings, self.sets, self.data.real, self.source)
        return dataclasses.replace(self, generators=MappingProxyType(generators), raw=raw)

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.raw), sort_keys=False)

    def resolved(self, root: Path, splits: str | None, classes: list[str] | None = None) -> "Suite":
        """This suite as it ran: the data root (and splits folder) absolute, so the suite.yaml saved
        in a run dir reruns that run; ``test: all`` expanded to the data's manipulation ``classes``."""
        raw = copy.deepcopy(_plain(self.raw))
        raw["data"]["root"] = str(Path(root).resolve())
        raw["data"]["splits"] = splits
        pairings = []
        for pairing in self.pairings:
            tests = pairing.test
            if tests == (ALL,):
                if not classes:
                    raise BenchmarkError(f"{self.source}: pairings: 'test: all' found no manipulation class "
                                         f"folders in {root}")
                # folder or manifest class names become folders of the run dir: the same check as a suite's
                tests = tuple(check_name(c, "class", f"{self.source}: pairings: 'test: all' in {root}") for c in classes)
            pairings.append(Pairing(pairing.train, tests))
        raw["pairings"] = [{"train": p.train, "test": list(p.test)} for p in pairings]
        return dataclasses.replace(self, pairings=tuple(pairings), raw=raw,
                                   data=dataclasses.replace(self.data, root=raw["data"]["root"], splits=splits))


def load_suite(path: str | Path, overrides: list[str] = ()) -> Suite:
    path = Path(path)
    try:
        check_bytes(path.stat().st_size, str(path))  # before reading: a 50 MB file is refused at once
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise BenchmarkError(f"cannot read suite file {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise BenchmarkError(f"{path}: not UTF-8 text (byte {e.start}); save the suite as UTF-8") from None
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, dict):
        raise BenchmarkError(f"{path}: a suite must be a YAML mapping with at least 'name' and 'pairings'")
    for override in overrides:
        apply_override(raw, override)
    # messages name the file and, when the suite was changed on the command line, those changes
    source = str(path) + (f" with --set {' '.join(o.partition('=')[0] for o in overrides)}" if overrides else "")
    return dataclasses.replace(parse_suite(raw, source=source), path=str(path))


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


def check_prompts(value, key: str, source: str) -> None:
    """A prompt set: the name of a registered one, or inline ``{real: [...], fake: [...]}``."""
    if isinstance(value, str) and value:
        return
    if isinstance(value, dict) and set(value) == {"real", "fake"} and all(
            isinstance(texts, list) and texts and all(isinstance(t, str) and t.strip() for t in texts)
            for texts in value.values()):
        return
    raise BenchmarkError(f"{source}: '{key}' must name a prompt set or give one inline as "
                         f"{{real: [text, ...], fake: [text, ...]}}")


def parse_suite(raw: dict, source: str = "<suite>") -> Suite:
    raw = _check_keys(raw, SCHEMA, "", source)
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise BenchmarkError(f"{source}: 'name' is required (it names the output folder reports/<name>/)")
    check_name(raw["name"], "name", source)

    data = raw["data"]
    if data["layout"] not in LAYOUTS:
        raise BenchmarkError(f"{source}: 'data.layout' must be one of {', '.join(LAYOUTS)}, got {data['layout']!r}")
    if data["root"] is not None and not isinstance(data["root"], str):
        raise BenchmarkError(f"{source}: 'data.root' must be a path or null")
    check_name(data["real"], "data.real", source)
    split = data["split"]
    for part, fraction in split.items():
        if part not in ("train", "val", "test"):
            raise BenchmarkError(f"{source}: unknown suite key 'data.split.{part}' (expected train, val, test)")
        if not is_number(fraction) or not 0 < fraction < 1:
            raise BenchmarkError(f"{source}: 'data.split.{part}' must be a fraction between 0 and 1, got {fraction!r}")
    if set(split) != {"train", "val", "test"}:
        raise BenchmarkError(f"{source}: 'data.split' needs train, val and test fractions")
    if abs(sum(split.values()) - 1.0) > 1e-6:
        raise BenchmarkError(f"{source}: 'data.split' fractions must add up to 1, got {sum(split.values()):g}")
    fpv = data["frames_per_video"]
    if fpv is not None and (not isinstance(fpv, int) or isinstance(fpv, bool) or fpv < 1):
        raise BenchmarkError(f"{source}: 'data.frames_per_video' must be a positive integer or null, got {fpv!r}")
    if data["splits"] is not None and not isinstance(data["splits"], str):
        raise BenchmarkError(f"{source}: 'data.splits' must be official, a folder path, or null")
    if not isinstance(data["compression"], str):
        raise BenchmarkError(f"{source}: 'data.compression' must be c23, c40 or raw")
    for flag in ("allow_duplicates", "fast_decode"):
        if not isinstance(data[flag], bool):
            raise BenchmarkError(f"{source}: 'data.{flag}' must be true or false")
    if data["on_bad_image"] not in BAD_IMAGE_POLICIES:
        raise BenchmarkError(f"{source}: 'data.on_bad_image' must be skip or fail, got {data['on_bad_image']!r}")
    if not is_number(data["max_bad_fraction"]) or not 0 <= data["max_bad_fraction"] < 1:
        raise BenchmarkError(f"{source}: 'data.max_bad_fraction' must be a fraction in [0, 1), "
                             f"got {data['max_bad_fraction']!r}")
    if data["video_score"] not in VIDEO_SCORES:
        raise BenchmarkError(f"{source}: 'data.video_score' must be one of {', '.join(VIDEO_SCORES)}, "
                             f"got {data['video_score']!r}")
    report = parse_report(raw["report"], "report", source)
    manifest = data["manifest"]
    manifests = [manifest] if isinstance(manifest, str) else manifest
    if not isinstance(manifests, list) or not manifests or not all(isinstance(m, str) and m for m in manifests):
        raise BenchmarkError(f"{source}: 'data.manifest' must be a CSV file or a list of them, got {manifest!r}")
    sets = parse_sets(raw["sets"], data["real"], source)
    perturbations = raw["perturbations"]
    if isinstance(perturbations, str):
        perturbations = [perturbations]
    if not isinstance(perturbations, list) or not perturbations or not all(isinstance(p, str) for p in perturbations):
        raise BenchmarkError(f"{source}: 'perturbations' must be a list such as [none, jpeg:50, blur:2] or a preset "
                             f"({', '.join(PRESETS)}), got {raw['perturbations']!r}")
    selection = raw["selection"]
    if selection["epoch"] not in ("best", "last"):
        raise BenchmarkError(f"{source}: 'selection.epoch' must be best or last, got {selection['epoch']!r}")
    if not isinstance(selection["oracle"], bool):
        raise BenchmarkError(f"{source}: 'selection.oracle' must be true or false")
    threshold = selection["threshold"]
    if threshold != "val" and not (is_number(threshold) and 0 <= threshold <= 1):
        raise BenchmarkError(f"{source}: 'selection.threshold' must be val or a number in [0, 1], got {threshold!r}")
    if data["synthetic"] is not None and not isinstance(data["synthetic"], dict):
        raise BenchmarkError(f"{source}: 'data.synthetic' must be a mapping (or absent)")

    pairings = parse_pairings(raw["pairings"], source)
    set_reals = {c for s in sets.values() for c in s.real}
    for i, pairing in enumerate(pairings):
        for name in (pairing.train, *pairing.test):
            if name in set_reals:
                raise BenchmarkError(f"{source}: pairings[{i}] names '{name}', a real class of a set; name the set")
        if pairing.train == data["real"]:
            raise BenchmarkError(f"{source}: pairings[{i}].train is the real class '{pairing.train}'; "
                                 f"a training set is real + one manipulation: name the manipulation")
        if data["real"] in pairing.test:
            raise BenchmarkError(f"{source}: pairings[{i}].test names the real class '{data['real']}': a test set "
                                 f"without fakes; name manipulations (real test images are in every cell)")
        if ALL in pairing.test and len(pairing.test) > 1:
            raise BenchmarkError(f"{source}: pairings[{i}].test: 'all' already means every manipulation class")

    generators = parse_generators(raw["generators"], source)
    check_generator_names(generators, pairings, sets, data["real"], source)

    detectors = raw["detectors"]
    if not isinstance(detectors, dict) or not detectors:
        raise BenchmarkError(f"{source}: 'detectors' must map at least one detector name to its options")
    for name, options in detectors.items():
        check_name(name, f"detectors.{name}", source)
        if options is None:
            detectors[name] = {}
        elif not isinstance(options, dict):
            raise BenchmarkError(f"{source}: 'detectors.{name}' must be a mapping of options (or empty)")

    check_prompts(raw["prompts"], "prompts", source)
    seeds = raw["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise BenchmarkError(f"{source}: 'seeds' must be a non-empty list of integers")
    for s in seeds:
        if not SEED_RANGE[0] <= s <= SEED_RANGE[1]:
            raise BenchmarkError(f"{source}: 'seeds': {s} is outside numpy's seed range 0..{SEED_RANGE[1]}")
    if len(set(seeds)) != len(seeds):
        duplicate = next(s for s in seeds if seeds.count(s) > 1)
        raise BenchmarkError(f"{source}: 'seeds' lists {duplicate} twice; each seed runs once")
    raw["seeds"] = seeds
    metrics = names(raw["metrics"], "metrics", source)
    if len(set(metrics)) != len(metrics):
        raise BenchmarkError(f"{source}: 'metrics' lists a metric twice")

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
            on_bad_image=data["on_bad_image"],
            max_bad_fraction=float(data["max_bad_fraction"]),
            video_score=data["video_score"],
            manifest=tuple(manifests),
        ),
        sets=MappingProxyType(sets),
        generators=MappingProxyType({k: MappingProxyType(v) for k, v in generators.items()}),
        perturbations=tuple(expand(perturbations)),
        report=report,
        selection=Selection(epoch=selection["epoch"], threshold=threshold, oracle=selection["oracle"]),
        pairings=tuple(pairings),
        detectors=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in detectors.items()}),
        prompts=raw["prompts"] if isinstance(raw["prompts"], str) else MappingProxyType(dict(raw["prompts"])),
        metrics=metrics,
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
