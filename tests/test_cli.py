"""The command line as a user runs it: exit codes, messages, signals."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
from daemonkit import wait_for

from micboardd import __version__
from micboardd.cli import EXIT_CODES, HelpFormatter, build_parser
from micboardd.config import EX_CONFIG
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server.tokens import verify_token_hash

EXE = [sys.executable, "-m", "micboardd.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_bad_config_names_file_path_and_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "venue.json"
    bad.write_text('{"devices": [{"id": "rx1", "driver": "shure-ulxd", "host": "10.0.0.2",'
                   ' "port": 99999}], "http": {"port": 8058}}')
    for args in (("run", "--config", str(bad)), ("check-config", str(bad))):
        r = run(*args)
        assert r.returncode == EX_CONFIG, r.stderr
        assert str(bad) in r.stderr
        assert "$.devices[0].port" in r.stderr
        assert "65535" in r.stderr  # what was expected


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"devices": [\n  {"id": "a",}\n]}')
    r = run("check-config", str(bad))
    assert r.returncode == EX_CONFIG
    assert "line 2" in r.stderr and str(bad) in r.stderr


def test_unknown_driver_and_key_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"devices": [{"id": "a", "driver": "shure-ulx", "host": "h"}],'
                   ' "htp": {}}')
    r = run("check-config", str(bad))
    assert "$.devices[0].driver" in r.stderr and "shure-ulxd" in r.stderr
    assert "$.htp" in r.stderr and "unknown key" in r.stderr


def test_shipped_configs_are_valid() -> None:
    root = Path(__file__).parent.parent / "config"
    files = sorted(str(p) for p in root.glob("*.json"))
    assert files
    r = run("check-config", *files)
    assert r.returncode == 0, r.stderr


async def test_run_sighup_reload_and_sigterm(tmp_path: Path) -> None:
    async with ULXDSimulator("127.0.0.1", 0, model="ULXD4", names=["ONE"], frozen=True) as sim:
        cfg = {"devices": [{"id": "a", "driver": "shure-ulxd", "host": "127.0.0.1",
                            "port": sim.port}],
               "http": {"host": "127.0.0.1", "port": 0}, "state_dir": str(tmp_path / "s")}
        path = tmp_path / "c.json"
        path.write_bytes(orjson.dumps(cfg))
        port_file = tmp_path / "port"
        env = {**os.environ, "MICBOARDD_PORT_FILE": str(port_file)}
        proc = await asyncio.create_subprocess_exec(
            *EXE, "run", "--config", str(path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(port_file.exists, timeout=20)
            port = int(port_file.read_text())
            base = f"http://127.0.0.1:{port}"

            async def state() -> dict:
                async with aiohttp.ClientSession() as s, s.get(f"{base}/api/state") as r:
                    return await r.json()

            st: dict = {}

            async def named(name: str) -> bool:
                st.update(await state())
                return st["channels"].get("a/1", {}).get("name") == name

            for _ in range(200):
                if await named("ONE"):
                    break
                await asyncio.sleep(0.05)
            assert st["channels"]["a/1"]["name"] == "ONE"
            # SIGHUP with a bad file keeps running; with a good one applies it
            path.write_text("{not json")
            os.utime(path, (1, 1))  # keep the mtime watcher out of this step
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            async with aiohttp.ClientSession() as s, s.get(f"{base}/healthz") as r:
                health = await r.json()
            assert "not valid JSON" in health["last_reload_error"]
            assert proc.returncode is None
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()[-2000:]
        lines = [orjson.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
        events = [x["event"] for x in lines]
        assert "config_reload_failed" in events and "stopped" in events
        assert all("level" in x and "timestamp" in x for x in lines)  # structured JSON
        await wait_for(lambda: "SET 1 METER_RATE 00000" in sim.commands_seen)


# ------------------------------------------------------------------- help and exit codes


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


def test_help_is_plain_text_and_every_option_says_its_default_and_choices() -> None:
    r = run("--help")  # the real command, as a user types it
    assert r.returncode == 0 and r.stdout.startswith("usage: micboardd ")
    parsers = subcommands()
    assert set(parsers) >= {"run", "demo", "check-config", "simulate", "hash-token",
                            "prune", "path"}
    for name, parser in parsers.items():
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text, name  # no reStructuredText
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction
                          | argparse._VersionAction):
                continue
            what = f"{name} {action.option_strings or action.dest}"
            assert action.help, what
            shown = HelpFormatter("micboardd")._get_help_string(action) or ""
            if action.option_strings and not action.required:
                assert "default" in shown, what  # the value, or what happens instead
            if action.nargs == "?":
                assert "default" in shown, what
            for choice in action.choices or ():
                assert str(choice) in text, what
    assert "{debug,info,warning,error}" in parsers["run"].format_help()
    assert "default: $MICBOARDD_LOG_LEVEL, else info" in parsers["run"].format_help()
    assert "(default: 8058)" in parsers["demo"].format_help()


def test_exit_codes_are_listed_in_help_and_readme() -> None:
    main_help = build_parser().format_help()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert set(EXIT_CODES) == {0, 2, 66, 69, 74, 78}
    for code in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+\w", main_help, re.M), code
        assert re.search(rf"^\|\s*`?{code}`?\s*\|", readme, re.M), code
    # each command lists the statuses it can end with
    parsers = subcommands()
    assert "78" in parsers["check-config"].format_help()
    assert re.search(r"^\s+69\s", parsers["run"].format_help(), re.M)
    assert re.search(r"^\s+66\s+no history database", parsers["prune"].format_help(), re.M)
    assert "exit status (sysexits.h)" in parsers["hash-token"].format_help()


def test_a_bad_log_level_is_refused_with_the_choices(tmp_path: Path) -> None:
    env = {**os.environ, "MICBOARDD_LOG_LEVEL": "loud"}
    r = subprocess.run([*EXE, "simulate", "-c", str(tmp_path / "none.json")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "'loud' is not a log level" in r.stderr and "debug, info, warning, error" in r.stderr


def test_a_taken_port_exits_69(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.json"
        cfg.write_bytes(orjson.dumps({"http": {"host": "127.0.0.1", "port": port},
                                      "state_dir": str(tmp_path / "s")}))
        r = run("run", "-c", str(cfg))
    assert r.returncode == 69, r.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


def test_hash_token_reads_a_piped_token_and_prints_only_the_hash() -> None:
    token = "Xq7s9V2mKp4LwR8tYz3NcB6hJd1FgH5eUa0iOoQrTsW"  # 43 base64url characters
    r = subprocess.run([*EXE, "hash-token"], input=f"{token}\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "token:" not in r.stdout  # no getpass prompt
    [line] = r.stdout.splitlines()
    assert verify_token_hash(token, line)
    assert "http.tokens" in r.stderr  # the hint goes to standard error
    empty = subprocess.run([*EXE, "hash-token"], input="", capture_output=True, text=True,
                           timeout=60)
    assert empty.returncode == 2 and empty.stdout == ""
    assert "no token given" in empty.stderr
