"""Plugin-based benchmark harness for generalization studies of face-forgery detectors."""

__version__ = "0.1.0"

from benchmark.hookspecs import hookimpl  # noqa: E402  - plugins write `from benchmark import hookimpl`

__all__ = ["hookimpl", "load_runs"]


def load_runs(run_dirs, metrics=None, bootstrap=None):
    """Finished runs as one tidy pandas DataFrame (see :func:`benchmark.report.build.load_runs`)."""
    from benchmark.report.build import load_runs as load

    return load(run_dirs, metrics, bootstrap)
