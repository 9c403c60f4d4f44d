"""edge: an embedded edge-inference runtime for the Raspberry Pi."""

__version__ = "0.1.0"
