"""The README keeps its promises: two commands in the quick start, an install from the
built wheel, the /ws messages as they are, and nothing that points outside the
repository."""

from __future__ import annotations

import re
from pathlib import Path

from micboardd.resources import SHIPPED

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def commands(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line.split("#")[0].strip() for b in blocks for line in b.splitlines()
            if line.split("#")[0].strip()]


def test_quick_start_is_the_two_commands() -> None:
    assert commands(section("Quick start")) == ["./scripts/demo", "./scripts/test"]


def test_install_is_the_built_wheel_and_the_shipped_unit() -> None:
    steps = commands(section("Install on a rack PC"))
    assert any(re.search(r"pip install dist/micboardd-\S*\.whl", s) for s in steps)
    assert any("micboardd path micboardd.service" in s for s in steps)
    assert not [s for s in steps if re.search(r"\bcp\b.*\b(web|systemd/)", s)]


def test_ws_section_documents_every_message_the_server_sends() -> None:
    wire = (ROOT / "micboardd" / "server" / "wire.py").read_text()
    sent = set(re.findall(r'"type": "(\w+)"', wire))
    assert {"snapshot", "patch", "meters"} <= sent
    interfaces = section("Interfaces")
    for kind in sent:
        assert f'"type":"{kind}"' in interfaces, kind


def test_nothing_points_outside_the_repository() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links and not [u for u in links if re.match(r"[a-z]+:|/|\.\./", u)]
    for target in links:
        assert (ROOT / target.split("#")[0]).exists(), target
    # paths named in backticks exist too (config/venue.example.json, docs/mqtt.md, ...)
    named = re.findall(r"`((?:docs|config|systemd|scripts|micboardd|drivers|web)/[\w./-]+)`",
                       README)
    assert named
    in_the_wheel = {f"micboardd/{name}" for name in SHIPPED}  # web/ as installed, ...
    missing = [p for p in named
               if not (ROOT / p.rstrip("/")).exists() and p not in in_the_wheel]
    assert missing == []
