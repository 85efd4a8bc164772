"""Files that ship inside the package: the dashboard (``web``), the demo and example
configurations (``examples``) and the systemd unit (``systemd``).

Installed from the wheel or the sdist they are package data, ``micboardd/web`` and so on,
found with :mod:`importlib.resources` wherever pip put the package. In an editable install
(a developer's checkout) setuptools maps the same package names onto the checkout's
``web/``, ``config/`` and ``systemd/`` folders (``package-dir`` in ``pyproject.toml``);
those folders are found the way pip recorded the install (PEP 610 ``direct_url.json``),
so an edited JavaScript file is served as it is on the next reload.
"""

from __future__ import annotations

import json
import tomllib
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

#: the data-only packages, micboardd.<name>
SHIPPED = ("web", "examples", "systemd")


def shipped_dir(name: str) -> Path:
    """The folder of the data package ``micboardd.<name>``. It may be missing (a broken
    install); callers say so when a file they need is not there."""
    if name not in SHIPPED:
        raise ValueError(f"micboardd ships no {name!r} (only {', '.join(SHIPPED)})")
    installed = resources.files("micboardd") / name
    if installed.is_dir():
        return Path(str(installed))
    return _editable_dir(name) or Path(str(installed))


def shipped_file(name: str, file: str) -> Path:
    return shipped_dir(name) / file


def _editable_dir(name: str) -> Path | None:
    """Where an editable install's ``micboardd.<name>`` lives: the folder pyproject's
    package-dir maps it to, in the source tree pip installed the running code from."""
    here = Path(str(resources.files("micboardd"))).resolve()
    for source in _editable_sources():
        try:
            tool = tomllib.loads((source / "pyproject.toml").read_text())["tool"]
            folders: dict[str, str] = tool["setuptools"]["package-dir"]
            if (source / folders["micboardd"]).resolve() == here:
                return source / folders[f"micboardd.{name}"]
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
            continue
    return None


def _editable_sources() -> list[Path]:
    """The source trees of micboardd's editable installs on sys.path (a stray
    micboardd.egg-info in the current directory is a distribution too, without one)."""
    out = []
    for dist in metadata.distributions(name="micboardd"):
        text = dist.read_text("direct_url.json")
        try:
            info = json.loads(text) if text else {}
        except ValueError:
            continue
        url = urlparse(str(info.get("url", "")))
        if info.get("dir_info", {}).get("editable") and url.scheme == "file":
            out.append(Path(url2pathname(url.path)))
    return out

def find(name: str) -> Path | None:
    """A shipped folder by its name (``web``), or a shipped file by its file name
    (``demo.json``, ``venue.example.json``, ``micboardd.service``); None when there is
    no such thing."""
    if name in SHIPPED:
        d = shipped_dir(name)
        return d if d.is_dir() else None
    for folder in SHIPPED:
        f = shipped_dir(folder) / name
        if "/" not in name and f.is_file():
            return f
    return None
