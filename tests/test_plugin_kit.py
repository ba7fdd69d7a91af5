"""The plugin kit, as a plugin author meets it: the example package and a `new-plugin` scaffold are
really installed (pip, into a folder on PYTHONPATH) and found through their entry points by a fresh
`benchmark` process; every hook has a documentation entry and a test."""

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark import hookspecs

from conftest import assert_refused, run_main

pytestmark = pytest.mark.slow  # end-to-end runs: `python -m pytest -m "not slow"` leaves them out

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "forgery-example-plugin"
GUIDE = ROOT / "docs" / "plugins.md"


def install(package: Path, target: Path) -> dict:
    """pip-install ``package`` into ``target`` (no network, no dependencies: the harness is here);
    returns the environment in which a new process finds it."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(package)], check=True, capture_output=True, timeout=300)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
            "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def benchmark(env, *args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_the_example_package_installs_and_each_part_runs_in_a_suite(tmp_path):
    env = install(EXAMPLE, tmp_path / "site")
    listing = benchmark(env, "plugins")
    assert listing.returncode == 0, listing.stderr
    for kind, name in (("detector", "colour-stats"), ("prompt set", "terse"), ("metric", "precision"),
                       ("encoder", "thumbnail"), ("perturbation", "colour-shift"), ("dataset", "example-clips")):
        assert re.search(rf"{kind}\s+│ {name}\s+│ forgery-example-plugin │ 0.1.0\s+│ forgery_example_plugin.plugin",
                         listing.stdout), (kind, name)
    recipe = benchmark(env, "prepare", "example-clips", "--help")
    assert recipe.returncode == 0 and "test.txt (one file name per line)" in recipe.stdout, recipe.stderr
    out = tmp_path / "run"
    run = benchmark(env, "run", EXAMPLE / "suite.yaml", "--output-dir", out, "--workers", "0",
                    "--set", "data.synthetic.videos=12")
    assert run.returncode == 0, run.stderr
    tidy = pd.read_csv(out / "results.csv")
    assert set(tidy["detector"]) == {"colour-stats", "thumb-probe", "zero-shot-terse"}
    assert set(tidy["perturbation"]) == {"none", "colour-shift:0.3"}  # the plugin's perturbation ran
    assert {"precision", "precision_lo", "precision@0.5"} <= set(tidy.columns)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["plugins"]["detector:colour-stats"] == "forgery-example-plugin 0.1.0 (forgery_example_plugin.plugin)"
    assert meta["encoders"]["thumb-probe"]["library"] == "thumbnail"
    assert meta["detectors"]["zero-shot-terse"]["prompts"]["name"] == "terse"


def test_new_plugin_writes_a_package_that_installs_and_passes_its_own_tests(tmp_path, capsys):
    code, out, err = run_main(capsys, "new-plugin", "my-detector", "--dir", tmp_path)
    assert code == 0, err
    package = tmp_path / "my-detector"
    assert {p.name for p in package.iterdir()} >= {"pyproject.toml", "my_detector", "suite.yaml", "tests", "README.md"}
    env = install(package, tmp_path / "site")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                           capture_output=True, text=True, env=env, cwd=package, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
    assert_refused(run_main(capsys, "new-plugin", "my-detector", "--dir", tmp_path), "already exists")
    assert_refused(run_main(capsys, "new-plugin", "My_Detector", "--dir", tmp_path), "is not a package name")


def test_every_hook_has_a_guide_entry_and_a_test():
    """datasette's rule: a hook nobody documented or tested is a hook nobody can rely on."""
    guide = GUIDE.read_text()
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    hooks = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert len(hooks) == 7
    for hook in hooks:
        assert f"### `{hook}(register)`" in guide, f"docs/plugins.md has no entry for {hook}"
        assert f"def test_hook_{hook}(" in tests, f"no test named test_hook_{hook}"


def test_hookimpl_is_importable_from_the_package_root():
    from benchmark import hookimpl

    assert hookimpl is hookspecs.hookimpl


@pytest.mark.parametrize("snippet", ["ctx.progress(", "ctx.image_batches(", "ctx.save_checkpoint(", "ctx.encode_text(",
                                     "ctx.prompts", "ctx.resume", "Samples", "weights_only", "uses_text",
                                     "frozen_encoder", "ImageEncoder", "LoadedEncoder", "batch="])
def test_the_guide_covers_what_a_detector_author_touches(snippet):
    assert snippet in GUIDE.read_text()
