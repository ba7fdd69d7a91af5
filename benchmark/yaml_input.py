"""Reading YAML a user wrote: plain data only (``yaml.safe_load``: a ``!!python/...`` tag is an
error), errors with line and column, a bounded size (aliases cannot hang the harness), and
``--set dotted.key=value`` overrides whose values are YAML too."""

from __future__ import annotations

import yaml

from benchmark.errors import BenchmarkError

MAX_SUITE_VALUES = 100_000  # YAML aliases can make a 1 KB file expand to billions of values
MAX_SUITE_BYTES = 1_000_000  # the largest real suite is a few KB; PyYAML takes minutes over 50 MB


def check_bytes(size: int, source: str) -> None:
    """Bound the input before parsing: one line instead of minutes of silence."""
    if size > MAX_SUITE_BYTES:
        raise BenchmarkError(f"{source}: {size:,} bytes is more than a suite may hold ({MAX_SUITE_BYTES:,}); "
                             f"keep long text (a description, prompt lists) short or in a separate file")


def parse_yaml(text: str, source: str):
    """Plain data only (``yaml.safe_load``: a ``!!python/...`` tag is an error), with its line and
    column on errors, and bounded in size so alias expansion cannot hang the harness."""
    check_bytes(len(text.encode()), source)
    try:
        raw = yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise BenchmarkError(f"{source}: YAML nested too deeply to read; a suite is a few levels deep") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = e.problem or e.context or "invalid YAML"
        if "constructor for the tag" in problem:
            problem += " (suites are plain data: no Python tags)"
        raise BenchmarkError(f"{source}: not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as e:
        raise BenchmarkError(f"{source}: not valid YAML: {str(e).splitlines()[0]}") from None
    _check_size(raw, source)
    return raw


def _check_size(raw, source: str) -> None:
    """Count values as a reader would see them (aliases expanded), stopping at the limit."""
    count = 0
    stack = [raw]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_SUITE_VALUES:
            raise BenchmarkError(f"{source}: the suite expands to more than {MAX_SUITE_VALUES} values "
                                 f"(YAML aliases nested in aliases?); write it out plainly")
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def apply_override(raw: dict, override: str) -> None:
    """``dotted.key=value``: the value is YAML, so lists and mappings work too."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise BenchmarkError(f"--set {override!r}: expected dotted.key=value, e.g. detectors.clip-adapter.epochs=2")
    parsed = parse_yaml(value, f"--set {key}")
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
