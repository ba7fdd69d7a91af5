"""Features: frozen encoders and the persistent embedding cache they fill."""
