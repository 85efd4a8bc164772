"""Configuration problems say what was meant, and every value can come from the
environment (validated like the file, named in check-config and /healthz)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from daemonkit import running_daemon

from micboardd.config import ConfigError, env_overrides, load_config, parse_config

DEVICE = {"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1"}


def problems_of(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(orjson.dumps(raw), "venue.json", env)
    return [f"{where}: {what}" for where, what in exc.value.problems]


@pytest.mark.parametrize(("raw", "expected"), [
    ({"devices": [{**DEVICE, "hots": "x"}]},
     '$.devices[0].hots: unknown key; did you mean "host"?'),
    ({"http": {"prot": 8060}}, '$.http.prot: unknown key; did you mean "port"?'),
    ({"http": {"tokens": [{"name": "a", "sha256": "0" * 64, "roel": "viewer"}]}},
     '$.http.tokens[0].roel: unknown key; did you mean "role"?'),
    ({"slots": [{"slot": 1, "lable_id": "HH01"}]},
     '$.slots[0].lable_id: unknown key; did you mean "label_id"?'),
    ({"groups": [{"name": "Band", "kye": "1"}]},
     '$.groups[0].kye: unknown key; did you mean "key"?'),
    ({"status": {"stale": 4}}, '$.status.stale: unknown key; did you mean "stale_s"?'),
    ({"history": {"retension_days": 30}},
     '$.history.retension_days: unknown key; did you mean "retention_days"?'),
    ({"mqtt": {"url": "mqtt://b", "sitee": "x"}},
     '$.mqtt.sitee: unknown key; did you mean "site"?'),
    ({"alerts": {"default": {"rf_below_pc": 10}}},
     '$.alerts.default.rf_below_pc: unknown key; did you mean "rf_below_pct"?'),
    ({"alerts": {"groups": {"Band": {"tx_of_when_active": False}}}},
     '$.alerts.groups.Band.tx_of_when_active: unknown key; did you mean "tx_off_when_active"?'),
    ({"htp": {}}, '$.htp: unknown key; did you mean "http"?'),
    # the simulate block is a section too: a misspelt key was once ignored in silence
    ({"devices": [{**DEVICE, "simulate": {"habit": ["crlf"]}}]},
     '$.devices[0].simulate.habit: unknown key; did you mean "habits"?'),
    ({"devices": [{**DEVICE, "simulate": {"model": "ULXD4D", "name": ["Vox"]}}]},
     '$.devices[0].simulate.name: unknown key; did you mean "names"?'),
    ({"devices": [{**DEVICE, "zzzz": 1}]}, "$.devices[0].zzzz: unknown key (check the spelling)"),
])
def test_unknown_keys_name_the_closest_valid_key(raw: dict[str, Any], expected: str) -> None:
    assert expected in problems_of(raw)


def test_environment_sets_values_validated_like_the_file() -> None:
    env = {"MICBOARDD_HTTP__PORT": "8060", "MICBOARDD_HISTORY__ENABLED": "false",
           "MICBOARDD_STATE_DIR": "/srv/mb", "MICBOARDD_DEVICES__0__HOST": "10.0.0.5",
           "MICBOARDD_MQTT": '{"url": "mqtt://broker.local", "site": "stage-2"}',
           "MICBOARDD_LOG_LEVEL": "debug", "OTHER": "x"}  # not configuration: ignored
    cfg = parse_config(orjson.dumps({"devices": [DEVICE]}), "venue.json", env)
    assert cfg.http.port == 8060 and cfg.history.enabled is False
    assert cfg.state_dir == "/srv/mb" and cfg.devices[0].host == "10.0.0.5"
    assert cfg.mqtt is not None and cfg.mqtt.site == "stage-2"
    assert [o.name for o in env_overrides(env)] == [
        "MICBOARDD_DEVICES__0__HOST", "MICBOARDD_HISTORY__ENABLED", "MICBOARDD_HTTP__PORT",
        "MICBOARDD_MQTT", "MICBOARDD_STATE_DIR"]
    # without an environment the file alone counts
    assert parse_config(orjson.dumps({"devices": [DEVICE]}), "venue.json").http.port == 8058


@pytest.mark.parametrize(("env", "expected"), [
    ({"MICBOARDD_HTTP__PORT": "99999"},
     "$.http.port (from MICBOARDD_HTTP__PORT): Input should be less than or equal to 65535"),
    ({"MICBOARDD_HTTP__PROT": "1"},
     '$.http.prot (from MICBOARDD_HTTP__PROT): unknown key; did you mean "port"?'),
    ({"MICBOARDD_DEVICES__3__HOST": "x"},
     "MICBOARDD_DEVICES__3__HOST: the file has no item 3 there"),
    ({"MICBOARDD_HISTORY__ENABLED": "maybe"},
     "$.history.enabled (from MICBOARDD_HISTORY__ENABLED): Input should be a valid boolean"),
])
def test_bad_values_from_the_environment_name_the_variable(env: dict[str, str],
                                                           expected: str) -> None:
    found = problems_of({"devices": [DEVICE]}, env)
    assert any(p.startswith(expected) for p in found), found


def test_check_config_shows_what_came_from_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "venue.json"
    f.write_bytes(orjson.dumps({"devices": [DEVICE]}))
    env = {"MICBOARDD_HTTP__PORT": "8061", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "micboardd.cli", "check-config", str(f)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "$.http.port from the environment (MICBOARDD_HTTP__PORT)" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "micboardd.cli", "check-config", str(f)],
                         capture_output=True, text=True, timeout=60,
                         env={**env, "MICBOARDD_HTTP__PORT": "http"})
    assert bad.returncode == 78 and "MICBOARDD_HTTP__PORT" in bad.stderr


async def test_healthz_names_the_variables_never_their_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "venue.json"
    f.write_bytes(orjson.dumps({"devices": [], "http": {"host": "127.0.0.1", "port": 0}}))
    monkeypatch.setenv("MICBOARDD_HISTORY__ENABLED", "false")
    monkeypatch.setenv("MICBOARDD_MQTT__PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("MICBOARDD_MQTT__URL", "mqtt://127.0.0.1:1")
    cfg = load_config(f)
    assert cfg.history.enabled is False
    async with running_daemon(cfg, tmp_path, config_path=f) as d, \
            aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{d.http_port}/healthz") as r:
        text = await r.text()
    health = orjson.loads(text)
    assert health["config_from_environment"] == [
        "MICBOARDD_HISTORY__ENABLED", "MICBOARDD_MQTT__PASSWORD", "MICBOARDD_MQTT__URL"]
    assert "s3cret-from-env" not in text
