"""The README and docs/ stay true: every `benchmark ...` command they show parses with today's CLI,
and every YAML snippet is a valid suite (or a valid part of one), with built-in detectors' options
checked against their factories."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from benchmark import plugins
from benchmark.cli import _parser
from benchmark.prepare.arguments import registered_recipes
from benchmark.run.resolve import resolve_detectors
from benchmark.suite import SCHEMA, parse_suite

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def _blocks(lang_is_yaml: bool):
    for page in PAGES:
        for match in BLOCK.finditer(page.read_text()):
            if (match.group(1) == "yaml") == lang_is_yaml:
                yield page, match.group(2)


def _commands():
    for page, body in _blocks(False):
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip().startswith("benchmark "):
                yield pytest.param(line.strip(), id=f"{page.name}: {line.strip()[:60]}")


def _snippets():
    for page, body in _blocks(True):
        yield pytest.param(body, id=f"{page.name}: {body.strip().splitlines()[0][:50]}")


def test_the_pages_show_commands_and_snippets():
    assert len(list(_commands())) >= 15 and len(list(_snippets())) >= 5
    assert len((ROOT / "README.md").read_text().splitlines()) < 300  # the front page stays a front page


@pytest.mark.parametrize("line", list(_commands()))
def test_every_command_shown_parses(line):
    text = re.sub(r"\s#\s.*$", "", line)  # a trailing comment
    text = re.sub(r"\[[^\]]*\]", "", text)  # [optional parts] as the docs write them
    args = shlex.split(text.replace("IMAGES...", "image.png"))[1:]
    try:
        _parser(registered_recipes() if args[:1] == ["prepare"] else ()).parse_args(args)
    except SystemExit:
        pytest.fail(f"`{line}` does not parse with today's CLI")


@pytest.mark.parametrize("body", list(_snippets()))
def test_every_yaml_snippet_is_a_valid_suite_or_part_of_one(body):
    raw = yaml.safe_load(body)
    assert isinstance(raw, dict) and set(raw) <= set(SCHEMA), f"not a suite or part of one: {sorted(raw)}"
    base = {"name": "docs", "pairings": [{"train": "FaceSwap", "test": ["NeuralTextures"]}],
            "detectors": {"clip-adapter": {}}}
    suite = parse_suite({**base, **raw}, source="snippet")
    registry = plugins.collect()
    known = {entry.name for entry in registry.detectors}
    if all(entry.get("use", name) in known for name, entry in suite.detectors.items()):
        resolve_detectors(suite, registry)  # options and their types, as a run checks them
