"""Slot labels and groups edited on the page are saved to the state dir's layout file, never
into the administrator's configuration file; they override the file's slots and groups
across reloads and restarts, and are audited. A missing configuration file is a clear
JSON error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from daemonkit import running_daemon, wait_for

from micboardd.config import load_config
from micboardd.daemon import LAYOUT_FILE, Daemon


def write_config(path: Path, state: Path, devices: list[str], label: str = "FROM FILE") -> None:
    path.write_bytes(orjson.dumps({
        # ports nobody listens on: the devices stay offline, their slots exist all the same
        "devices": [{"id": d, "driver": "shure-ulxd", "host": "127.0.0.1", "port": 9,
                     "channels": 2} for d in devices],
        "slots": [{"slot": 1, "channel": f"{devices[0]}/1", "label_name": label}],
        "groups": [{"name": "Band"}],
        "http": {"host": "127.0.0.1", "port": 0},
        "state_dir": str(state),
    }, option=orjson.OPT_INDENT_2))


async def put_slots(d: Daemon, body: dict[str, Any]) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{d.http_port}/api/slots"
    async with aiohttp.ClientSession() as s, s.put(url, json=body) as r:
        return r.status, await r.json()


async def audit_actions(d: Daemon) -> list[str]:
    url = f"http://127.0.0.1:{d.http_port}/api/audit"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200
        return [e["action"] for e in (await r.json())["audit"]]


LAYOUT = {"slots": [{"slot": 1, "channel": "rx/2", "label_name": "PASTOR MIKE"},
                    {"slot": 2, "channel": "rx/1", "label_name": "HH03"}],
          "groups": [{"name": "Talk", "key": "2"}]}


async def test_layout_goes_to_the_state_dir_and_survives_reload_and_restart(
        tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    original = path.read_bytes()
    async with running_daemon(load_config(path), config_path=path) as d:
        status, body = await put_slots(d, LAYOUT)
        assert status == 200, body
        assert [s["label_name"] for s in body["slots"]] == ["PASTOR MIKE", "HH03"]
        assert path.read_bytes() == original  # the administrator's file is only read
        saved = orjson.loads((state / LAYOUT_FILE).read_bytes())
        assert [(s["slot"], s["channel"], s["label_name"]) for s in saved["slots"]] == [
            (1, "rx/2", "PASTOR MIKE"), (2, "rx/1", "HH03")]
        assert saved["groups"] == LAYOUT["groups"]
        assert [s["label_name"] for s in d.store.slots] == ["PASTOR MIKE", "HH03"]
        await d.history.writer.sync()
        assert "layout" in await audit_actions(d)
        # the administrator adds a receiver: the reload keeps the layout from the page
        write_config(path, state, ["rx", "rx2"], label="EDITED IN FILE")
        assert d.reload()
        assert "rx2" in d.links
        assert [s["label_name"] for s in d.store.slots] == ["PASTOR MIKE", "HH03"]
        assert [g["name"] for g in d.store.groups] == ["Talk"]
    # a restart reads the file, then the layout on top of it
    async with running_daemon(load_config(path), config_path=path) as d:
        assert [s["label_name"] for s in d.store.slots] == ["PASTOR MIKE", "HH03"]
        assert len(d.config.devices) == 2


async def test_groups_left_out_stay_as_they_are(tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    async with running_daemon(load_config(path), config_path=path) as d:
        status, body = await put_slots(d, {"slots": LAYOUT["slots"]})
        assert status == 200, body
        assert [g["name"] for g in body["groups"]] == ["Band"]
    assert orjson.loads((state / LAYOUT_FILE).read_bytes())["groups"] == [{"name": "Band"}]


async def test_missing_configuration_file_is_a_clear_json_error(tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    async with running_daemon(load_config(path), config_path=path) as d:
        path.unlink()
        status, body = await put_slots(d, LAYOUT)
        assert status == 503
        assert str(path) in body["error"] and "not saved" in body["error"]
        assert not (state / LAYOUT_FILE).exists()
        assert [s["label_name"] for s in d.store.slots] == ["FROM FILE"]  # nothing applied
        # the file comes back: saving works again
        write_config(path, state, ["rx"])
        status, body = await put_slots(d, LAYOUT)
        assert status == 200, body


async def test_unwritable_state_dir_is_reported_and_nothing_applied(tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    async with running_daemon(load_config(path), config_path=path) as d:
        (state / LAYOUT_FILE).mkdir()  # os.replace cannot put a file there
        status, body = await put_slots(d, LAYOUT)
        assert status == 503 and LAYOUT_FILE in body["error"], body
        assert [s["label_name"] for s in d.store.slots] == ["FROM FILE"]
        assert not [f for f in os.listdir(state) if f.endswith(".tmp")]


async def test_invalid_layout_is_refused_with_its_json_path(tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    async with running_daemon(load_config(path), config_path=path) as d:
        twice = {"slots": [{"slot": 1, "channel": "rx/1"}, {"slot": 1, "channel": "rx/2"}]}
        status, body = await put_slots(d, twice)
        assert status == 422 and "listed twice" in str(body["problems"])
        assert not (state / LAYOUT_FILE).exists()


async def test_a_layout_file_that_does_not_fit_is_left_aside(tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    state.mkdir()
    for bad in (b"{not json", b'{"slots": []}',
                orjson.dumps({"slots": [{"slot": 1, "chanel": "rx/1"}], "groups": []})):
        (state / LAYOUT_FILE).write_bytes(bad)
        d = Daemon(load_config(path), path)
        assert [s.label_name for s in d.config.slots] == ["FROM FILE"], bad
        d.hub.close()


async def test_without_a_configuration_file_the_running_one_is_the_base(
        tmp_path: Path) -> None:
    path, state = tmp_path / "venue.json", tmp_path / "state"
    write_config(path, state, ["rx"])
    async with running_daemon(load_config(path)) as d:  # no file: a test or embedding
        status, body = await put_slots(d, LAYOUT)
        assert status == 200, body
        await wait_for(lambda: (state / LAYOUT_FILE).exists())
