"""Plugin manager: loads every plugin of the ``benchmark`` entry-point group and collects what
their hooks register into name -> entry registries that check duplicates and unknown names."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import pluggy

from benchmark import hookspecs
from benchmark.errors import BenchmarkError
from benchmark.metrics import Metric
from benchmark.prompts import PromptSet

ENTRY_POINT_GROUP = "benchmark"


@dataclass(frozen=True)
class Entry:
    name: str
    value: Any
    source: str  # "<distribution> (<module>)": where a user goes to read or fix it


@dataclass
class Registry:
    kind: str  # "detector", "prompt set", "metric": used in messages
    entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, name: str, value: Any, source: str) -> None:
        if not isinstance(name, str) or not name:
            raise BenchmarkError(f"{source}: {self.kind} name must be a non-empty string, got {name!r}")
        if name in self.entries:
            raise BenchmarkError(
                f"{self.kind} '{name}' is registered twice: by {self.entries[name].source} "
                f"and by {source}; uninstall or rename one of them"
            )
        self.entries[name] = Entry(name, value, source)

    def get(self, name: str, where: str = "") -> Entry:
        if name not in self.entries:
            close = difflib.get_close_matches(str(name), list(self.entries), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(sorted(self.entries)) or "none installed"
            prefix = f"{where}: " if where else ""
            raise BenchmarkError(f"{prefix}unknown {self.kind} '{name}'{hint} (known: {known})")
        return self.entries[name]

    def __iter__(self):
        return iter(sorted(self.entries.values(), key=lambda e: e.name))


@dataclass
class Plugins:
    detectors: Registry
    prompt_sets: Registry
    metrics: Registry

    def all(self):
        for registry in (self.detectors, self.prompt_sets, self.metrics):
            for entry in registry:
                yield registry.kind, entry


def make_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("benchmark")
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()  # a misspelled hook name in a plugin is an error, not a silent no-op
    return pm


_manager: pluggy.PluginManager | None = None


def get_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager; tests register extra plugins on it and unregister them."""
    global _manager
    if _manager is None:
        _manager = make_manager()
    return _manager


def _source_of(pm: pluggy.PluginManager, plugin) -> str:
    """"<distribution> (<module>)" for installed plugins, else the name it was registered under."""
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return f"{dist.project_name} ({getattr(plugin, '__name__', pm.get_name(plugin))})"
    return pm.get_name(plugin) or repr(plugin)


def collect(pm: pluggy.PluginManager | None = None) -> Plugins:
    """Call every registration hook implementation once, each with a ``register`` callback that
    knows which plugin it belongs to, so duplicates and listings can name their source."""
    pm = pm or get_manager()
    plugins = Plugins(Registry("detector"), Registry("prompt set"), Registry("metric"))
    adders = {
        "register_detectors": lambda source: lambda name, factory: plugins.detectors.add(name, factory, source),
        "register_prompt_sets": lambda source: lambda name, prompts: _add_prompts(plugins, name, prompts, source),
        "register_metrics": lambda source: lambda metric: _add_metric(plugins, metric, source),
    }
    for hook_name, make_register in adders.items():
        # pluggy calls implementations last-registered first; reverse for a stable, natural order
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            impl.function(register=make_register(_source_of(pm, impl.plugin)))
    return plugins


def _add_prompts(plugins: Plugins, name, prompts, source):
    if not isinstance(prompts, PromptSet):
        raise BenchmarkError(f"{source}: prompt set '{name}' must be a benchmark.prompts.PromptSet")
    plugins.prompt_sets.add(name, prompts, source)


def _add_metric(plugins: Plugins, metric, source):
    if not isinstance(metric, Metric):
        raise BenchmarkError(f"{source}: register_metrics expects a benchmark.metrics.Metric, got {metric!r}")
    plugins.metrics.add(metric.name, metric, source)
