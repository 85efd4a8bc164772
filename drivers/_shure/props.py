"""Property handlers more than one Shure family shares (wire arguments -> normalized
values). Family-specific ones live with their family."""

from __future__ import annotations

from micboardd.drivers._shure.values import Values, num, on_off, text


def tx_type(args: list[str]) -> Values:
    model = text(args[0])
    return {"tx.model": model, "tx.present": model is not None}


def tx_offset(args: list[str]) -> Values:
    v = num(args[0], 255)
    return {"tx.offset_db": v}


def batt_type(args: list[str]) -> Values:
    return {"tx.battery_type": text(args[0])}


def group_chan(args: list[str]) -> Values:
    s = " ".join(args)
    return {"group_channel": None if s.startswith("--") else s}


def rf_int(args: list[str]) -> Values:
    return {"rf.interference": args[0] not in ("NONE", "OK")}


def enc_warning(args: list[str]) -> Values:
    w = on_off(args[0])
    return {"rf.encryption_ok": None if w is None else not w}


def mute_status(args: list[str]) -> Values:
    s = args[0]
    return {"tx.muted": True if s == "ON" else False if s == "OFF" else None}
