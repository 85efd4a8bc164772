"""``micboardd`` command line: run, demo, check-config, simulate, hash-token, prune, path."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from micboardd import __version__
from micboardd.config import EX_CONFIG, Config, ConfigError, env_overrides, load_config
from micboardd.history.cli import add_prune_command
from micboardd.resources import find, shipped_file
from micboardd.server.tokens import generate_token, make_token_hash, token_problem

EX_UNAVAILABLE = 69  # sysexits.h: the port is taken


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
        raw = config.model_dump(mode="json", exclude_none=True)
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


def cmd_hash_token(args: argparse.Namespace) -> int:
    if args.generate:
        token = generate_token()
        print(f"token: {token}")
        print("  (give this to the operator once; it is not stored anywhere)", file=sys.stderr)
    else:
        token = args.token if args.token is not None else getpass.getpass("token: ")
        problem = token_problem(token)
        if problem:
            print(f"refused: {problem}", file=sys.stderr)
            return 2
    print(f"hash: {make_token_hash(token)}")
    print('  (put it in http.tokens: {"name": "...", "role": "operator", "hash": "..."})',
          file=sys.stderr)
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    found = find(args.name)
    if found is None:
        print(f"micboardd: nothing called {args.name!r} ships with micboardd (try web, "
              "demo.json, venue.example.json, micboardd.service)", file=sys.stderr)
        return 1
    print(found)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="micboardd", description=__doc__)
    p.add_argument("--version", action="version", version=f"micboardd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", required=True, help="configuration JSON file")
    run.add_argument("--host", help="override http.host")
    run.add_argument("--port", type=int, help="override http.port")
    run.add_argument("--state-dir", help="override state_dir")
    run.add_argument("--log-level", default=os.environ.get("MICBOARDD_LOG_LEVEL", "info"))
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run with simulated receivers (no hardware needed)")
    demo.add_argument("--config", help="demo configuration (default: the demo.json that "
                                       "ships with micboardd)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8058)
    demo.add_argument("--state-dir", help="where the demo keeps its database (state/demo)")
    demo.add_argument("--frozen", action="store_true",
                      help="simulators change only when told to (for tests and screenshots)")
    demo.add_argument("--chaos", action="store_true",
                      help="random demo: batteries race, transmitters go off and on at random "
                           "(default: a calm show with a few scripted problems)")
    demo.add_argument("--log-level", default=os.environ.get("MICBOARDD_LOG_LEVEL", "warning"))
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser("check-config", help="validate configuration files and exit")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_check_config)

    sim = sub.add_parser("simulate", help="start the simulators a configuration describes "
                                          "(devices with a 'simulate' block) on their "
                                          "configured addresses")
    sim.add_argument("--config", "-c", required=True)
    sim.add_argument("--frozen", action="store_true")
    sim.add_argument("--log-level", default="warning")
    sim.set_defaults(func=cmd_simulate)

    ht = sub.add_parser("hash-token", help="print the hash of a write token to put in "
                                           "http.tokens (--generate makes the token too)")
    ht.add_argument("token", nargs="?", help="the token (asked for when not given); one "
                    "with less than 128 bits of entropy is refused")
    ht.add_argument("--generate", action="store_true",
                    help="make a new random token (256 bits) and print it with its hash")
    ht.set_defaults(func=cmd_hash_token)

    path = sub.add_parser("path", help="print where a file that ships with micboardd is "
                                       "(web, demo.json, venue.example.json, "
                                       "micboardd.service)")
    path.add_argument("name")
    path.set_defaults(func=cmd_path)

    add_prune_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
