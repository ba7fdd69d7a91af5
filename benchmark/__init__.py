"""Plugin-based benchmark harness for generalization studies of face-forgery detectors."""

__version__ = "0.1.0"
