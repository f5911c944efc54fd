"""Sequential recommendation over frozen foundation encoders."""

__version__ = "0.1.0"
