"""Reports: read a run dir (the store) only, and render tables for the console and report.md."""
