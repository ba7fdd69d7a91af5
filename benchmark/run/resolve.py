"""Suite detectors -> checked, buildable detectors: every name, option, type and range is checked
before anything runs or is written; command-line shortcuts (--epochs, --lr, ...) become options.

A ``detectors`` entry is a *variant*: its name is how it appears everywhere (run dirs, results,
reports); ``use: <plugin>`` picks the detector plugin (default: the name itself) and
``prompts: <set name | {real: [...], fake: [...]}>`` its prompt set (default: the suite's). Both
are read by the harness; every other key is an option of the plugin's factory.
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from dataclasses import dataclass, field

from benchmark.detector import Detector, EncoderSpec
from benchmark.encoders import split_backbone
from benchmark.errors import BenchmarkError
from benchmark.prompts import PromptSet
from benchmark.suite import Suite, check_prompts

# --flag -> detector option it sets, on every detector whose factory takes that option
SHORTCUTS = {"epochs": "epochs", "lr": "lr", "batch_size": "batch_size"}


HARNESS_KEYS = ("use", "prompts")  # keys of a detectors entry the harness reads itself


@dataclass
class ResolvedDetector:
    name: str  # the variant's name
    factory: object
    options: dict  # the factory's keyword arguments, typed
    source: str  # "<package> <version> (<module>)" of the plugin
    plugin: str = ""  # the registered detector it uses
    prompts: PromptSet | None = None
    prompts_name: str = ""  # the prompt set's name, or "inline"
    spec: EncoderSpec | None = None  # the frozen encoder it trains on, or None for a pixel detector
    start: EncoderSpec | None = None  # the network a pixel detector fine-tunes (Detector.starts_from)
    defaults: dict = field(default_factory=dict)  # the factory's own default of each option (plain values only)
    reads_prompts: bool = False  # the detector encodes text prompts (Detector.uses_text)

    @property
    def network(self) -> EncoderSpec | None:
        """The registered encoder whose identity (weights, preprocessing) is part of this detector's."""
        return self.spec or self.start

    @property
    def resolved_options(self) -> dict:
        """Every option's value as the detector runs with it: the ones set, and the factory's defaults."""
        return {**self.defaults, **self.options}

    @property
    def at_default(self) -> list[str]:
        """The options whose value is the factory's default, whether set or not."""
        return sorted(k for k, v in self.resolved_options.items() if k in self.defaults and v == self.defaults[k])

    def build(self) -> Detector:
        try:
            return self.factory(**self.options)
        except (TypeError, ValueError) as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BenchmarkError(f"detectors.{self.name}.{message}" if ":" in message.split()[0]
                                 else f"detectors.{self.name}: {message}") from None


def _parameters(factory) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(factory).parameters)


def _defaults(parameters: dict[str, inspect.Parameter]) -> dict:
    """The factory's defaults that are plain data (recorded in identity and meta)."""
    def plain(value) -> bool:
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    return {name: list(p.default) if isinstance(p.default, tuple) else p.default for name, p in parameters.items()
            if p.default is not inspect.Parameter.empty and plain(p.default)
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _type_hints(factory) -> dict:
    try:
        return typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)
    except Exception:  # noqa: BLE001 - unresolvable annotations: types are then the factory's own business
        return {}


def typed(value, expected, key: str):
    """``value`` as the factory's annotation says: strict for scalars (2.9 or true is not an int),
    but number text such as ``1e-3`` (which YAML 1.1 reads as a string) becomes the number."""
    if isinstance(value, str) and expected in (int, float):
        value = _number(value, expected)
    is_bool = isinstance(value, bool)
    if expected is int and (is_bool or not isinstance(value, int)):
        raise BenchmarkError(f"{key} must be an integer, got {value!r}")
    if expected is float:
        if is_bool or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BenchmarkError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if expected is bool and not is_bool:
        raise BenchmarkError(f"{key} must be true or false, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise BenchmarkError(f"{key} must be a string, got {value!r}")
    if expected is list and not isinstance(value, list):
        raise BenchmarkError(f"{key} must be a list, e.g. [1, 2], got {value!r}")
    return value


def _number(text: str, expected):
    """Number text -> the number (ints only from integer text); other text is left as it is."""
    try:
        return int(text) if expected is int else float(text)
    except ValueError:
        return text


def resolve_prompts(value, registry, where: str) -> tuple[PromptSet, str]:
    """(prompt set, its name) from a registered name or an inline ``{real, fake}`` mapping."""
    if isinstance(value, str):
        return registry.get(value, where=where).value, value
    return PromptSet(real=value["real"], fake=value["fake"]), "inline"


def plugin_of(name: str, entry) -> str:
    """The detector plugin a ``detectors`` entry uses: ``use:``, else its own name."""
    plugin = entry.get("use", name)
    if not isinstance(plugin, str) or not plugin:
        raise BenchmarkError(f"detectors.{name}.use must name a detector plugin, got {plugin!r}")
    return plugin


def resolve_detectors(suite: Suite, plugins) -> list[ResolvedDetector]:
    """Check every detector name and option before anything runs or is written."""
    resolved = []
    for name, entry in suite.detectors.items():
        plugin = plugin_of(name, entry)
        found = plugins.detectors.get(plugin, where=f"{suite.source}: detectors" +
                                      (f".{name}.use" if plugin != name else ""))
        prompt_value = entry.get("prompts", suite.prompts)
        check_prompts(prompt_value, f"detectors.{name}.prompts", suite.source)
        prompts, prompts_name = resolve_prompts(prompt_value, plugins.prompt_sets,
                                                f"{suite.source}: detectors.{name}.prompts")
        values, defaults = factory_options(found.value, entry, HARNESS_KEYS, f"detectors.{name}", suite.source)
        detector = ResolvedDetector(name, found.value, values, found.source, plugin, prompts, prompts_name,
                                    defaults=defaults)
        built = detector.build()  # building also checks the options' ranges
        detector.spec = built.frozen_encoder()
        detector.reads_prompts = bool(built.uses_text())
        detector.start = built.starts_from() if detector.spec is None else None
        if detector.network is not None:
            _check_encoder(detector.network, built.uses_text(), plugins.encoders, f"{suite.source}: detectors.{name}")
        resolved.append(detector)
    return resolved


def factory_options(factory, entry, harness_keys, where: str, source: str) -> tuple[dict, dict]:
    """(the options of ``entry`` typed as the factory's signature says, the factory's plain defaults);
    an option it does not take is an error naming ``<where>.<option>`` (keys in ``harness_keys`` are
    the harness's own and skipped)."""
    parameters = _parameters(factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = _type_hints(factory)
    values = {}
    for option, value in entry.items():
        if option in harness_keys:
            continue
        if not takes_any and option not in parameters:
            close = difflib.get_close_matches(str(option), [*parameters, *harness_keys], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join([*parameters, *harness_keys])
            raise BenchmarkError(f"{source}: unknown option '{where}.{option}'{hint} (options: {known})")
        values[option] = typed(value, hints[option], f"{source}: {where}.{option}") if option in hints else value
    return values, _defaults(parameters)


def _check_encoder(spec, text_option: str | None, encoders, where: str) -> None:
    """The backbone's library must be installed and, for a detector that reads prompts, encode text."""
    library, model = split_backbone(spec.model, {entry.name for entry in encoders})
    encoder = encoders.get(library, where=f"{where}.backbone").value
    if text_option and not encoder.has_text:
        raise BenchmarkError(f"{where}.backbone: {spec.model} encodes images only, but this detector encodes text "
                             f"prompts; {text_option}, or use an open_clip backbone")


def shortcut_overrides(suite: Suite, registry, values: dict) -> list[str]:
    """``--epochs 3`` -> ``--set detectors.<d>.epochs=3`` for every detector that has the option."""
    overrides = []
    for flag, value in values.items():
        if value is None:
            continue
        if flag == "seeds":
            overrides.append(f"seeds=[{', '.join(str(s) for s in value)}]")
            continue
        option = SHORTCUTS[flag]
        takers = [name for name, entry in suite.detectors.items()
                  if option in _parameters(registry.get(plugin_of(name, entry), where=f"{suite.source}: detectors").value)]
        if not takers:
            raise BenchmarkError(f"--{flag.replace('_', '-')}: no detector of {suite.source} has an option '{option}'")
        overrides += [f"detectors.{name}.{option}={value}" for name in takers]
    return overrides
