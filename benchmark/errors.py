"""The one exception type the CLI turns into a one-line message and exit code 2."""


class BenchmarkError(Exception):
    """Bad input or an impossible request: the message says what is wrong and how to fix it."""
