"""micboardd: a wireless microphone monitoring daemon."""

#: The one place the version is written (packaging reads it, so does ``--version``).
#: Calendar versioning: YY.MM.DD of the release day, written the way PEP 440 normalises
#: it (no leading zeros: 2026-12-02 is 26.12.2, so pip, the wheel's name and
#: ``micboardd --version`` all print the same string); a second release on the same day
#: adds .1 (26.12.2.1), a third .2.
__version__ = "26.12.2"
