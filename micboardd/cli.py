"""The ``micboardd`` command line: run, demo, check-config, simulate, hash-token, prune,
path. Its help is plain text; its exit statuses are sysexits.h's (``EXIT_CODES``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from micboardd import __version__
from micboardd.config import EX_CONFIG, Config, ConfigError, env_overrides, load_config
from micboardd.history.cli import add_prune_command
from micboardd.resources import find, shipped_file
from micboardd.server.tokens import generate_token, make_token_hash, token_problem

EX_NOINPUT = 66  # sysexits.h: an input file is missing
EX_UNAVAILABLE = 69  # sysexits.h: the port is taken
EX_IOERR = 74  # sysexits.h: a file could not be read or written

DESCRIPTION = ("micboardd monitors wireless microphone receivers and serves their "
               "dashboard. 'micboardd COMMAND --help' lists the options of one command.")

#: every exit status of the command line (sysexits.h), for --help and the README
EXIT_CODES = {
    0: "success",
    2: "usage error: a wrong option or argument",
    EX_NOINPUT: "a named input does not exist",
    EX_UNAVAILABLE: "the HTTP port cannot be listened on (taken, or not allowed)",
    EX_IOERR: "a file could not be read or written",
    EX_CONFIG: "the configuration is not valid (the file, the JSON path and what was "
               "expected are printed; MICBOARDD_* variables count)",
}

LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_level(value: str) -> str:
    v = value.strip().lower()
    if v not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a log level (choose from {', '.join(LOG_LEVELS)}; "
            "MICBOARDD_LOG_LEVEL sets the default)")
    return v


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Plain text, the epilog's lines as written, and each option's default at the end
    of its help line (one without a default says in its help what happens instead)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or action.required:
            return text
        if action.default is False:
            return f"{text} (default: off)"
        if action.default is not None:
            return f"{text} (default: %(default)s)"
        return text


def _exit_codes(codes: dict[int, str]) -> str:
    """The epilog listing exit statuses: 0 and 2 always, ``codes`` with what they mean
    for this command (an empty text: the general meaning)."""
    lines = ["exit status (sysexits.h):"]
    for code, text in sorted({0: "", 2: "", **codes}.items()):
        lines += textwrap.wrap(text or EXIT_CODES[code], 78, initial_indent=f"  {code:>2}  ",
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


def _use_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def _serve(config: Config, config_path: Path | None, *, sims: list[object] | None = None,
                 banner: str | None = None) -> int:
    from micboardd.daemon import Daemon

    daemon = Daemon(config, config_path)
    try:
        await daemon.start()
    except OSError as exc:
        print(f"micboardd: cannot listen on {config.http.host}:{config.http.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        for rs in sims or ():
            await rs.sim.stop()  # type: ignore[attr-defined]
        return EX_UNAVAILABLE
    daemon.install_signals()
    # Everything allocated so far lives as long as the process: keep it out of the
    # cyclic collector's way, and collect the young generation less often (the hot path
    # makes many short-lived, acyclic dicts), so full collections stop showing up as
    # latency spikes.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    if banner:
        print(banner.format(port=daemon.http_port), flush=True)
    port_file = os.environ.get("MICBOARDD_PORT_FILE")
    if port_file:  # tests and scripts that bind port 0 learn the real port here
        Path(port_file).write_text(str(daemon.http_port))  # noqa: ASYNC240 - once, tiny
    _notify_ready(daemon)
    await daemon.stopped.wait()
    for rs in sims or ():
        await rs.sim.stop()  # type: ignore[attr-defined]
    return 0


def _notify_ready(daemon: object) -> None:
    from micboardd.sdnotify import start_watchdog

    start_watchdog()


def cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    if args.port is not None or args.host is not None:
        overrides = {"host": args.host, "port": args.port}
        http = config.http.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        config = config.model_copy(update={"http": http})
    if args.state_dir:
        config = config.model_copy(update={"state_dir": args.state_dir})
    loop_name = _use_uvloop()
    from micboardd.logs import setup_logging

    setup_logging(args.log_level)
    import structlog

    structlog.get_logger("micboardd").info("starting", version=__version__, loop=loop_name,
                                           config=str(path))
    return asyncio.run(_serve(config, path))


def cmd_demo(args: argparse.Namespace) -> int:
    from micboardd.logs import setup_logging
    from micboardd.simulate import start_fleet

    src = Path(args.config) if args.config else shipped_file("examples", "demo.json")
    try:
        base = load_config(src)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    if args.chaos:  # every simulator in the old random mood (drivers/_shure/life.py)
        base = base.model_copy(update={"devices": [
            d.model_copy(update={"simulate": {**d.simulate, "chaos": True}}) if d.simulate
            else d for d in base.devices]})
    state_dir = Path(args.state_dir or base.state_dir or "state/demo")
    state_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(args.log_level)
    _use_uvloop()

    async def main() -> int:
        config, sims = await start_fleet(base, loopback_any_port=True, frozen=args.frozen)
        http = config.http.model_copy(update={"host": args.host, "port": args.port})
        config = config.model_copy(update={"http": http, "state_dir": str(state_dir)})
        # the running copy (with the simulators' ports) lives in the state dir; slot
        # edits made on the page go to the state dir's layout file (Daemon.save_layout)
        path = state_dir / "demo.json"
        # only what was set: a default written out would count as set when read back
        # (a group's alert rule would then override every default key, not only its own)
        raw = config.model_dump(mode="json", exclude_unset=True)
        path.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2) + b"\n")
        config = load_config(path)
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        banner = (f"micboardd demo: {len(sims)} simulated receivers. "
                  f"Dashboard: http://{shown}:{{port}}/  (Ctrl-C stops)")
        return await _serve(config, path, sims=list(sims), banner=banner)

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main())
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    ok = True
    for f in args.files:
        try:
            cfg = load_config(f)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            ok = False
            continue
        print(f"{f}: ok ({len(cfg.devices)} devices, {len(cfg.slots)} slots)")
        for o in env_overrides(os.environ):
            print(f"  {o.json_path} from the environment ({o.name})")
    return 0 if ok else EX_CONFIG


def cmd_simulate(args: argparse.Namespace) -> int:
    from micboardd.logs import setup_logging
    from micboardd.simulate import start_fleet

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    setup_logging(args.log_level)
    _use_uvloop()

    async def main() -> int:
        _, sims = await start_fleet(config, frozen=args.frozen)
        for rs in sims:
            print(f"{rs.device_id}: {rs.family} {rs.sim.model} on {rs.sim.host}:{rs.sim.port}",
                  flush=True)
        print(f"{len(sims)} simulators running; Ctrl-C stops", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        for rs in sims:
            await rs.sim.stop()
        return 0

    return asyncio.run(main())


def _read_token() -> str:
    """The token to hash: typed without echo on a terminal (the prompt goes to the
    terminal, never to standard output), else the first line of standard input."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        return getpass.getpass("token: ", stream=sys.stderr)
    return sys.stdin.readline().strip()


def cmd_hash_token(args: argparse.Namespace) -> int:
    """Standard output carries only the result (the hash; with --generate the token and
    the hash, labelled); hints and refusals go to standard error."""
    if args.generate:
        token = generate_token()
        print(f"token: {token}")
        print("  (give this to the operator once; it is not stored anywhere)", file=sys.stderr)
    else:
        token = args.token if args.token is not None else _read_token()
        if not token:
            print("refused: no token given (as the argument, typed, or on standard input)",
                  file=sys.stderr)
            return 2
        problem = token_problem(token)
        if problem:
            print(f"refused: {problem}", file=sys.stderr)
            return 2
    token_hash = make_token_hash(token)
    print(f"hash: {token_hash}" if args.generate else token_hash, flush=True)
    print('  (put it in http.tokens: {"name": "...", "role": "operator", "hash": "..."})',
          file=sys.stderr)
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    found = find(args.name)
    if found is None:
        print(f"micboardd: nothing called {args.name!r} ships with micboardd (try web, "
              "demo.json, venue.example.json, micboardd.service)", file=sys.stderr)
        return EX_NOINPUT
    print(found)
    return 0


def _command(sub: Any, name: str, help: str, codes: dict[int, str] | None = None
             ) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".",
        epilog=_exit_codes(codes or {}), formatter_class=HelpFormatter)
    return p


def _log_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--log-level", type=_log_level, choices=LOG_LEVELS,
                   default=os.environ.get("MICBOARDD_LOG_LEVEL", default),
                   help="how much to log (JSON lines on standard error); "
                        f"default: $MICBOARDD_LOG_LEVEL, else {default}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="micboardd", description=textwrap.fill(DESCRIPTION, 78),
        formatter_class=HelpFormatter,
        epilog=_exit_codes({
            2: "usage error: a wrong option or argument (hash-token: the token is refused)",
            EX_NOINPUT: "a named input does not exist (prune: no history database; path: "
                        "nothing of that name ships)",
            EX_UNAVAILABLE: "", EX_IOERR: "the history database could not be read or "
                                          "written (prune)", EX_CONFIG: ""})
        + "\n\nenvironment:\n"
        "  MICBOARDD_HTTP__PORT=8060  any configuration value, named after its JSON path\n"
        "  MICBOARDD_LOG_LEVEL        the default of --log-level\n"
        "  STATE_DIRECTORY            the state directory if the configuration has none")
    p.add_argument("--version", action="version", version=f"micboardd {__version__}",
                   help="print the version (YY.MM.DD) and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")

    serving = {EX_UNAVAILABLE: "", EX_CONFIG: ""}
    run = _command(sub, "run", "run the daemon with a configuration file", serving)
    run.add_argument("--config", "-c", required=True, metavar="FILE",
                     help="the configuration (JSON) file; required")
    run.add_argument("--host", help="listen on this address instead of http.host "
                                    "(default: the configuration's)")
    run.add_argument("--port", type=int, help="listen on this port instead of http.port "
                                              "(default: the configuration's)")
    run.add_argument("--state-dir", metavar="DIR",
                     help="keep the history and saved layout here instead of state_dir "
                          "(default: the configuration's, else $STATE_DIRECTORY, else ./state)")
    _log_option(run, "info")
    run.set_defaults(func=cmd_run)

    demo = _command(sub, "demo", "run with simulated receivers (no hardware needed)",
                    serving)
    demo.add_argument("--config", metavar="FILE",
                      help="demo configuration (default: the demo.json that ships with "
                           "micboardd)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8058, help="port to listen on")
    demo.add_argument("--state-dir", metavar="DIR",
                      help="where the demo keeps its database and layout (default: the "
                           "configuration's state_dir, else state/demo)")
    demo.add_argument("--frozen", action="store_true",
                      help="simulators change only when told to (for tests and screenshots)")
    demo.add_argument("--chaos", action="store_true",
                      help="random demo: batteries race, transmitters go off and on at "
                           "random (default: off, a calm show with a few scripted problems)")
    _log_option(demo, "warning")
    demo.set_defaults(func=cmd_demo)

    check = _command(sub, "check-config", "validate configuration files and exit",
                     {EX_CONFIG: "at least one file is not valid (each problem is printed)"})
    check.add_argument("files", nargs="+", metavar="FILE",
                       help="configuration files to check, each with the MICBOARDD_* "
                            "variables of the environment applied (and listed)")
    check.set_defaults(func=cmd_check_config)

    sim = _command(sub, "simulate", "start the simulators a configuration describes "
                                    "(devices with a 'simulate' block) on their configured "
                                    "addresses", {EX_CONFIG: ""})
    sim.add_argument("--config", "-c", required=True, metavar="FILE",
                     help="the configuration whose devices to simulate; required")
    sim.add_argument("--frozen", action="store_true",
                     help="simulators change only when told to (SIMCTL); nothing drifts")
    _log_option(sim, "warning")
    sim.set_defaults(func=cmd_simulate)

    ht = _command(sub, "hash-token", "print the hash of a write token to put in http.tokens "
                                     "(--generate makes the token too)",
                  {2: "a wrong option, or the token is refused (too weak, or none given)"})
    ht.add_argument("token", nargs="?",
                    help="the token; one with less than 128 bits of entropy is refused "
                         "(default: typed without echo on a terminal, else the first line "
                         "of standard input; an argument stays in the shell's history)")
    ht.add_argument("--generate", action="store_true",
                    help="make a new random token (256 bits) and print it with its hash")
    ht.set_defaults(func=cmd_hash_token)

    path = _command(sub, "path", "print where a file that ships with micboardd is",
                    {EX_NOINPUT: "nothing of that name ships with micboardd"})
    path.add_argument("name", help="web, demo.json, venue.example.json or micboardd.service")
    path.set_defaults(func=cmd_path)

    add_prune_command(lambda name, help: _command(sub, name, help, {
        EX_NOINPUT: "no history database where the daemon would keep it (the message "
                    "says where it looked)",
        EX_IOERR: "the database could not be read or written", EX_CONFIG: ""}))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
