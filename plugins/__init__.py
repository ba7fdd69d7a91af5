"""Built-in plugins, installed as ``benchmark_plugins`` and registered through entry points."""
