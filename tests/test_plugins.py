import inspect

import pytest

from benchmark import hookspecs, plugins
from benchmark.encoders import ImageEncoder
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl
from benchmark.metrics import Metric
from benchmark.perturbations import PerturbationKind
from benchmark.prompts import PromptSet


class ThirdParty:
    """What a pip-installed plugin package's module looks like."""

    @staticmethod
    @hookimpl
    def register_prompt_sets(register):
        register("terse", PromptSet(real=["a face"], fake=["a fake face"]))

    @staticmethod
    @hookimpl
    def register_metrics(register):
        register(Metric("always_half", lambda y, s: 0.5))




def test_builtins_come_through_the_entry_point_group():
    found = plugins.collect()
    assert {e.name for e in found.detectors} == {"clip-adapter", "clip-linear-probe", "clip-zero-shot",
                                                   "shortcut-probe", "pixel-cnn", "finetune", "xception",
                                                   "efficientnet-b4", "srm-xception", "spsl-xception", "gend-ln"}
    assert "default" in {e.name for e in found.prompt_sets}
    assert {"auc", "eer", "f1", "accuracy"} <= {e.name for e in found.metrics}
    source = found.detectors.get("clip-adapter").source
    assert source.startswith("forgery-benchmark") and "benchmark_plugins.detectors.clip_adapter" in source


def test_third_party_plugin_is_collected_with_its_source(registered):
    registered(ThirdParty, "third_party_plugin")
    found = plugins.collect()
    assert found.prompt_sets.get("terse").value.fake == ("a fake face",)
    assert found.metrics.get("always_half").source == "third_party_plugin"


def test_duplicate_name_names_both_sources(registered):
    class Clash:
        @staticmethod
        @hookimpl
        def register_metrics(register):
            register(Metric("auc", lambda y, s: 1.0))

    registered(Clash, "clashing_plugin")
    found = plugins.collect()  # the clash breaks only the name both register
    assert found.metrics.get("eer").name == "eer"
    with pytest.raises(BenchmarkError) as error:
        found.metrics.get("auc")
    message = str(error.value)
    assert "metric 'auc' is registered twice" in message
    assert "benchmark_plugins.metrics.classification" in message and "clashing_plugin" in message


def test_unknown_name_suggests_the_closest():
    with pytest.raises(BenchmarkError, match="unknown detector 'clip-adaptor'; did you mean 'clip-adapter'"):
        plugins.collect().detectors.get("clip-adaptor")


def test_wrong_registration_types_are_refused(registered):
    class Wrong:
        @staticmethod
        @hookimpl
        def register_prompt_sets(register):
            register("bad", {"real": ["x"], "fake": ["y"]})

    registered(Wrong, "wrong_plugin")
    found = plugins.collect()
    assert ("wrong_plugin", "register_prompt_sets failed: BenchmarkError: prompt set 'bad' must be a "
            "benchmark.prompts.PromptSet") in found.broken
    assert found.prompt_sets.get("default")  # the others keep working


def test_every_hook_is_documented_and_takes_register():
    specs = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert {f.__name__ for f in specs} == {"register_detectors", "register_prompt_sets", "register_metrics",
                                           "register_encoders", "register_perturbations",
                                           "register_datasets", "register_generators"}
    for spec in specs:
        assert list(inspect.signature(spec).parameters) == ["register"]
        assert "register(" in (spec.__doc__ or ""), f"{spec.__name__} must document how register is called"


class OneOfEach:
    """A plugin registering through every hook."""

    @staticmethod
    @hookimpl
    def register_detectors(register):
        register("one-detector", lambda: None)

    @staticmethod
    @hookimpl
    def register_prompt_sets(register):
        register("one-prompts", PromptSet(real=["r"], fake=["f"]))

    @staticmethod
    @hookimpl
    def register_metrics(register):
        register(Metric("one-metric", lambda y, s: 0.0, higher_is_better=False))

    @staticmethod
    @hookimpl
    def register_encoders(register):
        register("one-encoder", OneEncoder())

    @staticmethod
    @hookimpl
    def register_perturbations(register):
        register(PerturbationKind("one-shift", lambda image, param, rng: image, lambda param: None))


class OneEncoder(ImageEncoder):
    def identity(self, model, pretrained, file_hash):
        return {"model": model}

    def load(self, model, pretrained, device):
        raise NotImplementedError


def test_hook_register_detectors(registered):
    registered(OneOfEach, "one_of_each")
    entry = plugins.collect().detectors.get("one-detector")
    assert callable(entry.value) and entry.source == "one_of_each"


def test_hook_register_prompt_sets(registered):
    registered(OneOfEach, "one_of_each")
    assert plugins.collect().prompt_sets.get("one-prompts").value.real == ("r",)


def test_hook_register_metrics(registered):
    registered(OneOfEach, "one_of_each")
    metric = plugins.collect().metrics.get("one-metric").value
    assert metric.name == "one-metric" and not metric.higher_is_better


def test_hook_register_encoders(registered):
    registered(OneOfEach, "one_of_each")
    found = plugins.collect()
    assert isinstance(found.encoders.get("one-encoder").value, OneEncoder)
    assert {"open_clip", "timm", "torchvision"} <= {e.name for e in found.encoders}

    class NotAnEncoder:
        @staticmethod
        @hookimpl
        def register_encoders(register):
            register("bad", object())

    registered(NotAnEncoder, "not_an_encoder")
    found = plugins.collect()
    assert any(p == "not_an_encoder" and "must be a benchmark.encoders.ImageEncoder" in why for p, why in found.broken)


def test_hook_register_generators(registered):
    import numpy as np

    from benchmark.generators import Generator

    class Copy(Generator):
        def make(self, image, landmarks, rng, partner=None):
            return image.copy(), np.zeros(image.shape[:2], np.float32)

    class Generators:
        @staticmethod
        @hookimpl
        def register_generators(register):
            register("copy", Copy)

    registered(Generators, "generators_plugin")
    found = plugins.collect()
    assert found.generators.get("copy").value is Copy and found.generators.get("copy").source == "generators_plugin"
    assert {"sbi", "blended"} <= {e.name for e in found.generators}

    class Twice:
        @staticmethod
        @hookimpl
        def register_generators(register):
            register("sbi", Copy)

    registered(Twice, "twice")
    with pytest.raises(BenchmarkError, match="generator 'sbi' is registered twice"):
        plugins.collect().generators.get("sbi")


def test_hook_register_perturbations(registered):
    registered(OneOfEach, "one_of_each")
    found = plugins.collect()
    assert found.perturbations.get("one-shift").value.name == "one-shift"
    assert {"jpeg", "blur", "resize", "noise"} <= {e.name for e in found.perturbations}

    class Colon:
        @staticmethod
        @hookimpl
        def register_perturbations(register):
            register(PerturbationKind("a:b", lambda image, param, rng: image, lambda param: None))

    registered(Colon, "colon")
    assert any(p == "colon" and "may not contain ':'" in why for p, why in plugins.collect().broken)
