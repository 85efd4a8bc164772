"""micboardd: a wireless microphone monitoring daemon."""

__version__ = "0.1.0"
