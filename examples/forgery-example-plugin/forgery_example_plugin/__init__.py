"""An example plugin package for forgery-benchmark (see docs/plugins.md in the harness)."""
