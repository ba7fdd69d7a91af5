"""Built-in pseudo-fake generators: ``sbi`` (Self-Blended Images) and ``blended`` (Face X-ray)."""
