"""``python -m micboardd``: the same as the ``micboardd`` command."""

from __future__ import annotations

import sys

from micboardd.cli import main

if __name__ == "__main__":
    sys.exit(main())
