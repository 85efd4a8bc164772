"""Where photos are kept: ``<state dir>/photos/``, each file named by the hash of its
content (``<32 hex>.webp``, ``<32 hex>.jpg``: a changed photo is a new name, so a
browser may cache one for ever), and ``index.json``, which says what each photo is for.

An entry is for a slot (``slot:3``) or a performer name (``name:pastor mike``). Names
match as Micboard matches its background images to the name a tile shows, made sturdier:
compared in lower case (as Micboard does), and also with Unicode normalized and runs of
spaces taken as one, so "Pastor  Mike" and "pastor mike" find the same photo.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any

import orjson

from micboardd.files import write_atomic
from micboardd.photos.image import Encoded

JSON = dict[str, Any]
INDEX = "index.json"
FILE = re.compile(r"^[0-9a-f]{32}\.(webp|jpg)$")
URL = "/api/photos/files/"
MAX_NAME = 64  # as a slot's label_name


class NotKept(Exception):
    """The photos folder cannot be written (a full disk, a read-only state dir)."""


def name_key(name: str) -> str:
    """The key a performer name is matched by (web/tiles.js: ``photoKey``, the same)."""
    return " ".join(unicodedata.normalize("NFC", name).lower().split())


def key_of(slot: int | None, name: str | None) -> str:
    if slot is not None:
        return f"slot:{slot}"
    assert name is not None
    return f"name:{name_key(name)}"


class PhotoLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root
        #: key ("slot:3", "name:pastor mike") -> entry
        self.entries: dict[str, JSON] = {}

    def load(self) -> list[str]:
        """Read the index; returns the problems found (a bad index is kept aside, not
        lost: the files stay where they are)."""
        try:
            raw = orjson.loads((self.root / INDEX).read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, orjson.JSONDecodeError) as exc:
            return [f"{self.root / INDEX}: {exc}"]
        problems: list[str] = []
        entries = raw.get("photos", {}) if isinstance(raw, dict) else {}
        for key, entry in entries.items() if isinstance(entries, dict) else ():
            files = [entry.get("webp", ""), entry.get("jpeg", "")] if isinstance(
                entry, dict) else []
            if len(files) == 2 and all(self.path_of(f.removeprefix(URL)) for f in files):
                self.entries[key] = entry
            else:
                problems.append(f"{self.root / INDEX}: {key}: its files are missing")
        return problems

    def path_of(self, file: str) -> Path | None:
        """The path of a stored file by its name, or None (no such file, not a name)."""
        if not FILE.match(file):
            return None
        path = self.root / file
        return path if path.is_file() else None

    def keep(self, enc: Encoded) -> tuple[str, str]:
        """Store the two encodings (once per content); their URLs. NotKept on failure."""
        urls = []
        for data, ext in ((enc.webp, "webp"), (enc.jpeg, "jpg")):
            name = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
            if not (self.root / name).is_file():
                self._write(name, data)
            urls.append(URL + name)
        return urls[0], urls[1]

    def set(self, key: str, entry: JSON | None) -> None:
        """Put (or with None remove) an entry and save the index; then forget files no
        entry uses. NotKept when the index cannot be written (nothing changed then)."""
        new = dict(self.entries)
        if entry is None:
            new.pop(key, None)
        else:
            new[key] = entry
        self._write(INDEX, orjson.dumps({"photos": new}, option=orjson.OPT_INDENT_2))
        self.entries = new
        self._collect()

    def stored_bytes(self) -> int:
        total = 0
        for p in self.root.glob("*.*"):
            if FILE.match(p.name):
                with contextlib.suppress(OSError):
                    total += p.stat().st_size
        return total

    def _collect(self) -> None:
        used = {e[k].removeprefix(URL) for e in self.entries.values() for k in ("webp", "jpeg")}
        for p in self.root.glob("*.*"):
            if FILE.match(p.name) and p.name not in used:
                with contextlib.suppress(OSError):
                    p.unlink()

    def _write(self, name: str, data: bytes) -> None:
        path = self.root / name
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise NotKept(f"the photo was not kept: {path}: {exc.strerror or exc}") from exc
