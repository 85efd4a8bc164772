"""The version is written once, as CalVer in PEP 440's normal form, and the changelog
starts with it."""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

from micboardd import __version__

ROOT = Path(__file__).resolve().parents[1]


def release_date(version: str) -> datetime.date:
    m = re.fullmatch(r"(\d{2})\.([1-9]\d?)\.([1-9]\d?)(?:\.[1-9]\d*)?", version)
    assert m, f"{version!r} is not YY.M.D[.N] without leading zeros"
    yy, mm, dd = (int(g) for g in m.groups())
    return datetime.date(2000 + yy, mm, dd)  # raises on a day that does not exist


def test_version_is_calver_in_pep440_normal_form() -> None:
    release_date(__version__)
    for bad in ("26.12.02", "0.1.0.0", "26.13.1", "26.2.30", "26.12.2.0"):
        try:
            release_date(bad)
        except (AssertionError, ValueError):
            continue
        raise AssertionError(f"{bad} passed")


def test_packaging_reads_the_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "micboardd.__version__"}
    written = [p for p in (ROOT / "micboardd").rglob("*.py")
               if re.search(r"^__version__\s*=", p.read_text(), re.M)]
    assert written == [ROOT / "micboardd" / "__init__.py"]


def test_changelog_starts_with_this_release() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    # the first section is this release: nothing has been released before it, so what
    # it carries is written under it, not under an [Unreleased] heading above it
    assert releases, "CHANGELOG.md has no release section"
    version, date = releases[0]
    assert version == __version__
    assert date == release_date(version).isoformat()
    assert re.search(r"^### (Added|Changed|Fixed|Removed|Deprecated|Security)$", text, re.M)
