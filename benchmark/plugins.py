"""Plugin manager: loads every plugin of the ``benchmark`` entry-point group and collects what
their hooks register into name -> entry registries that check duplicates and unknown names.

Plugins fail alone: a package that does not import, implements an unknown hook, raises inside a
hook or registers a name another plugin also registers is listed as broken with a one-line
reason; every other plugin keeps working, and only a run that needs the broken name stops.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from benchmark import hookspecs
from benchmark.encoders import ImageEncoder
from benchmark.errors import BenchmarkError
from benchmark.metrics import Metric
from benchmark.perturbations import CLEAN, PerturbationKind
from benchmark.prompts import PromptSet

ENTRY_POINT_GROUP = "benchmark"


@dataclass(frozen=True)
class Entry:
    name: str
    value: Any
    source: str  # "<distribution> <version> (<module>)": where a user goes to read or fix it

    @property
    def origin(self) -> tuple[str, str, str]:
        """(package, version, module) from ``source``; a plugin registered by hand has no package."""
        head, _, module = self.source.partition(" (")
        package, _, version = head.rpartition(" ")
        return (package, version, module.rstrip(")")) if module and package else ("-", "-", self.source)


@dataclass
class Registry:
    kind: str  # "detector", "prompt set", "metric": used in messages
    entries: dict[str, Entry] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be used
    broken: list[tuple[str, str]] = field(default_factory=list)  # (plugin, reason), shared by all kinds

    def add(self, name: str, value: Any, source: str) -> None:
        if not isinstance(name, str) or not name:
            raise BenchmarkError(f"{source}: {self.kind} name must be a non-empty string, got {name!r}")
        if name in self.conflicts:
            self.conflicts[name] += f" and by {source}"
        elif name in self.entries:
            first = self.entries.pop(name).source
            self.conflicts[name] = f"{self.kind} '{name}' is registered twice: by {first} and by {source}"
        else:
            self.entries[name] = Entry(name, value, source)

    def get(self, name: str, where: str = "") -> Entry:
        prefix = f"{where}: " if where else ""
        if name in self.conflicts:
            raise BenchmarkError(f"{prefix}{self.conflicts[name]}; uninstall or rename one of them")
        if name not in self.entries:
            close = difflib.get_close_matches(str(name), list(self.entries), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(sorted(self.entries)) or "none installed"
            broken = "".join(f"; plugin {plugin} is broken ({reason})" for plugin, reason in self.broken)
            raise BenchmarkError(f"{prefix}unknown {self.kind} '{name}'{hint} (known: {known}){broken}")
        return self.entries[name]

    def __iter__(self):
        return iter(sorted(self.entries.values(), key=lambda e: e.name))


@dataclass
class Plugins:
    detectors: Registry
    prompt_sets: Registry
    metrics: Registry
    encoders: Registry
    perturbations: Registry
    datasets: Registry
    generators: Registry
    broken: list[tuple[str, str]]  # (plugin, one-line reason)

    @property
    def registries(self) -> tuple[Registry, ...]:
        return (self.detectors, self.prompt_sets, self.metrics, self.encoders, self.perturbations, self.datasets,
                self.generators)

    def all(self):
        for registry in self.registries:
            for entry in registry:
                yield registry.kind, entry

    def conflicts(self):
        for registry in self.registries:
            yield from registry.conflicts.items()


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


class Manager:
    """A pluggy manager plus what failed to load and which distribution each plugin came from."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager("benchmark")
        self.pm.add_hookspecs(hookspecs)
        self.broken: list[tuple[str, str]] = []
        self.dists: dict[int, str] = {}  # id(plugin) -> "<distribution> <version>"
        if load_entry_points:
            for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
                self._load(entry_point)

    def _load(self, entry_point) -> None:
        dist = f"{entry_point.dist.name} {entry_point.dist.version}" if entry_point.dist else entry_point.name
        label = f"{dist} ({entry_point.value})"
        try:
            plugin = entry_point.load()
        except Exception as e:  # noqa: BLE001 - a plugin's import can fail any way
            self.broken.append((label, f"import failed: {_one_line(e)}"))
            return
        self.register(plugin, entry_point.name, label)
        self.dists[id(plugin)] = dist

    def register(self, plugin, name: str, label: str | None = None) -> None:
        """Register one plugin; a misspelled hook or a bad signature marks it broken instead."""
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()  # a misspelled hook name is an error, not a silent no-op
        except (pluggy.PluginValidationError, ValueError) as e:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self.broken.append((label or name, f"not a valid plugin: {_one_line(e)}"))

    def unregister(self, plugin) -> None:
        self.pm.unregister(plugin)

    def source_of(self, plugin) -> str:
        """"<distribution> <version> (<module>)" for installed plugins, else its registered name."""
        module = getattr(plugin, "__name__", None) or self.pm.get_name(plugin)
        dist = self.dists.get(id(plugin))
        return f"{dist} ({module})" if dist else (self.pm.get_name(plugin) or repr(plugin))


_manager: Manager | None = None


def get_manager() -> Manager:
    """The process-wide plugin manager; tests register extra plugins on it and unregister them."""
    global _manager
    if _manager is None:
        _manager = Manager()
    return _manager


def collect(manager: Manager | None = None) -> Plugins:
    """Call every registration hook implementation once, each with a ``register`` callback that
    knows which plugin it belongs to, so duplicates and listings can name their source."""
    manager = manager or get_manager()
    broken = list(manager.broken)
    plugins = Plugins(Registry("detector", broken=broken), Registry("prompt set", broken=broken),
                      Registry("metric", broken=broken), Registry("encoder", broken=broken),
                      Registry("perturbation", broken=broken), Registry("dataset", broken=broken),
                      Registry("generator", broken=broken), broken)
    adders = {
        "register_detectors": lambda source: lambda name, factory: _add_detector(plugins, name, factory, source),
        "register_prompt_sets": lambda source: lambda name, prompts: _add_prompts(plugins, name, prompts, source),
        "register_metrics": lambda source: lambda metric: _add_metric(plugins, metric, source),
        "register_encoders": lambda source: lambda name, encoder: _add_encoder(plugins, name, encoder, source),
        "register_perturbations": lambda source: lambda kind: _add_perturbation(plugins, kind, source),
        "register_datasets": lambda source: lambda recipe: _add_dataset(plugins, recipe, source),
        "register_generators": lambda source: lambda name, factory: _add_generator(plugins, name, factory, source),
    }
    for hook_name, make_register in adders.items():
        # pluggy calls implementations last-registered first; reverse for a stable, natural order
        for impl in reversed(getattr(manager.pm.hook, hook_name).get_hookimpls()):
            source = manager.source_of(impl.plugin)
            if any(plugin == source for plugin, _ in broken):
                continue
            try:
                impl.function(register=make_register(source))
            except Exception as e:  # noqa: BLE001 - a plugin's hook may fail any way; only it is lost
                _drop(plugins, source)
                broken.append((source, f"{hook_name} failed: {_one_line(e)}"))
    return plugins


def _drop(plugins: Plugins, source: str) -> None:
    """Forget everything a plugin registered before its hook failed."""
    for registry in plugins.registries:
        for name in [n for n, e in registry.entries.items() if e.source == source]:
            del registry.entries[name]


def _add_detector(plugins: Plugins, name, factory, source):
    if not callable(factory):
        raise BenchmarkError(f"detector '{name}' must be a class or factory function, got {factory!r}")
    plugins.detectors.add(name, factory, source)


def _add_prompts(plugins: Plugins, name, prompts, source):
    if not isinstance(prompts, PromptSet):
        raise BenchmarkError(f"prompt set '{name}' must be a benchmark.prompts.PromptSet")
    plugins.prompt_sets.add(name, prompts, source)


def _add_metric(plugins: Plugins, metric, source):
    if not isinstance(metric, Metric):
        raise BenchmarkError(f"register_metrics expects a benchmark.metrics.Metric, got {metric!r}")
    plugins.metrics.add(metric.name, metric, source)


def _add_encoder(plugins: Plugins, name, encoder, source):
    if not isinstance(encoder, ImageEncoder):
        raise BenchmarkError(f"encoder '{name}' must be a benchmark.encoders.ImageEncoder, got {encoder!r}")
    plugins.encoders.add(name, encoder, source)


def _add_perturbation(plugins: Plugins, kind, source):
    if not isinstance(kind, PerturbationKind):
        raise BenchmarkError(f"register_perturbations expects a benchmark.perturbations.PerturbationKind, got {kind!r}")
    if ":" in kind.name or kind.name == CLEAN:
        raise BenchmarkError(f"perturbation name {kind.name!r} may not contain ':' or be '{CLEAN}'")
    plugins.perturbations.add(kind.name, kind, source)


def _add_dataset(plugins: Plugins, recipe, source):
    from benchmark.datasets import DatasetRecipe

    if not isinstance(recipe, DatasetRecipe):
        raise BenchmarkError(f"register_datasets expects a benchmark.datasets.DatasetRecipe instance, got {recipe!r}")
    if recipe.name in ("videos",) or not recipe.name.replace("-", "").isalnum():
        raise BenchmarkError(f"dataset name {recipe.name!r} must be letters, digits and '-' and not 'videos'")
    plugins.datasets.add(recipe.name, recipe, source)


def _add_generator(plugins: Plugins, name, factory, source):
    if not callable(factory):
        raise BenchmarkError(f"generator '{name}' must be a class or factory function, got {factory!r}")
    if isinstance(name, str) and (not name.replace("-", "").replace("_", "").isalnum() or ":" in name):
        raise BenchmarkError(f"generator name {name!r} must be letters, digits, '-' and '_'")
    plugins.generators.add(name, factory, source)
