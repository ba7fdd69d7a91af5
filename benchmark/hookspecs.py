"""Hook specifications: the whole surface a plugin package implements.

A plugin is a module (or object) with functions decorated by ``hookimpl``, made known through the
``benchmark`` entry-point group::

    [project.entry-points.benchmark]
    my-detector = "my_package.plugin"

Each hook receives a ``register`` callback; the host checks names, rejects duplicates and keeps
track of which plugin registered what.
"""

import pluggy

hookspec = pluggy.HookspecMarker("benchmark")
hookimpl = pluggy.HookimplMarker("benchmark")


@hookspec
def register_detectors(register):
    """Register detector factories.

    Call ``register(name, factory)``. ``factory(**options)`` builds a
    :class:`benchmark.detector.Detector`; ``options`` are the keys of the suite's
    ``detectors.<name>`` mapping, checked against the factory's signature before it is called.
    """


@hookspec
def register_prompt_sets(register):
    """Register text prompt sets.

    Call ``register(name, PromptSet(real=[...], fake=[...]))`` with a
    :class:`benchmark.prompts.PromptSet`. A suite picks one with ``prompts: <name>``.
    """


@hookspec
def register_metrics(register):
    """Register evaluation metrics.

    Call ``register(Metric(name, fn, higher_is_better, thresholded))`` with a
    :class:`benchmark.metrics.Metric`. ``fn(labels, values) -> float`` gets labels with
    1 = fake and, when ``thresholded``, hard 0/1 predictions, else scores P(fake).
    """


@hookspec
def register_encoders(register):
    """Register a library of frozen image encoders.

    Call ``register(library, encoder)`` with a :class:`benchmark.encoders.ImageEncoder`. A suite
    then names ``backbone: <library>:<model>``; ``encoder.identity(model, pretrained, file_hash)``
    keys the embedding cache and ``encoder.load(model, pretrained, device)`` builds the model.
    """


@hookspec
def register_perturbations(register):
    """Register a family of test-time degradations.

    Call ``register(PerturbationKind(name, apply, check, worse_when, version))`` with a
    :class:`benchmark.perturbations.PerturbationKind`. A suite then lists ``<name>:<param>`` under
    ``perturbations``; ``apply(image, param, rng)`` gets an RGB PIL image and a seeded generator.
    """


@hookspec
def register_datasets(register):
    """Register dataset recipes for ``benchmark prepare <name> SRC DEST``.

    Call ``register(recipe)`` with a :class:`benchmark.datasets.DatasetRecipe` instance: its
    ``items(src, options)`` lists the dataset's videos (or face-crop folders) with class, video and
    official split; the harness decodes, finds faces and writes frames plus ``manifest.csv``.
    """


@hookspec
def register_generators(register):
    """Register pseudo-fake generators: a generator's name is then a training set (``train: sbi``).

    Call ``register(name, factory)``. ``factory(**options)`` builds a
    :class:`benchmark.generators.Generator`; ``options`` are the keys of the suite's
    ``generators.<name>`` mapping (besides the harness's ``per_image``), checked against the
    factory's signature before anything runs.
    """
