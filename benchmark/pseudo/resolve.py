"""Suite generators -> checked, built generators: every name and option checked before anything
runs, as for detectors. A ``generators`` entry may say ``use: <registered generator>`` (a variant:
two SBI settings side by side) and ``per_image: K`` (the harness's: how many fixed blends per real
image frozen-feature detectors train on); every other key is an option of the generator's factory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from benchmark.errors import BenchmarkError
from benchmark.generators import Generator
from benchmark.pseudo.landmarks import TOOL
from benchmark.run.resolve import factory_options

HARNESS_KEYS = ("use", "per_image")


@dataclass
class ResolvedGenerator:
    name: str  # as the suite names it: the training set's name
    plugin: str  # the registered generator it uses
    generator: Generator
    options: dict  # the factory's keyword arguments, as set
    source: str  # "<package> <version> (<module>)"
    per_image: int = 1
    defaults: dict = field(default_factory=dict)

    @property
    def identity(self) -> dict:
        """What decides its pixels: recorded in the run's identity and meta, and part of every
        cached blend's key."""
        return {"use": self.plugin, "version": str(getattr(self.generator, "version", "1")),
                "options": {**self.defaults, **self.options}, "landmarks": TOOL}

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def meta(self) -> dict:
        return {**self.identity, "per_image": self.per_image, "source": self.source,
                "partners": bool(self.generator.partners)}


def build_generator(name: str, entry, registry, source: str) -> ResolvedGenerator:
    entry = dict(entry or {})
    plugin = entry.get("use", name)
    if not isinstance(plugin, str) or not plugin:
        raise BenchmarkError(f"{source}: generators.{name}.use must name a generator, got {plugin!r}")
    found = registry.get(plugin, where=f"{source}: generators" + (f".{name}.use" if plugin != name else ""))
    per_image = entry.get("per_image", 1)
    if not isinstance(per_image, int) or isinstance(per_image, bool) or not 1 <= per_image <= 100:
        raise BenchmarkError(f"{source}: generators.{name}.per_image must be a whole number 1..100 (fixed blends per "
                             f"real image for frozen-feature detectors), got {per_image!r}")
    values, defaults = factory_options(found.value, entry, HARNESS_KEYS, f"generators.{name}", source)
    try:
        generator = found.value(**values)
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"{source}: generators.{name}: {str(e).splitlines()[0] if str(e) else e!r}") from None
    if not isinstance(generator, Generator):
        raise BenchmarkError(f"generator '{plugin}' ({found.source}) built {generator!r}, not a "
                             "benchmark.generators.Generator")
    return ResolvedGenerator(name, plugin, generator, values, found.source, per_image, defaults)


def resolve_generators(suite, plugins) -> dict[str, ResolvedGenerator]:
    return {name: build_generator(name, entry, plugins.generators, suite.source)
            for name, entry in suite.generators.items()}
