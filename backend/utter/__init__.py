"""Utter: a self-hosted voice studio."""

__version__ = "0.1.0"
