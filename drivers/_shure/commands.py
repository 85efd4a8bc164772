"""Command helpers the Shure families share: gain, frequency and mute values checked and
turned into ``SET`` frames."""

from __future__ import annotations

from micboardd.drivers._shure.framing import frame
from micboardd.drivers.base import Command, CommandInvalid


def gain_command(cmd: Command, ch: int, lo_db: int, hi_db: int, offset: int, width: int = 3,
                 prop: str = "AUDIO_GAIN") -> tuple[tuple[int | None, str], list[bytes]]:
    """``SET n AUDIO_GAIN v`` where dB = v - offset, validated to lo_db..hi_db."""
    v = cmd.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise CommandInvalid("gain must be a whole number of dB")
    if not lo_db <= v <= hi_db:
        raise CommandInvalid(f"gain must be {lo_db}..{hi_db} dB, not {v}")
    return (ch, prop), [frame("SET", ch, prop, f"{v + offset:0{width}d}")]


def frequency_command(cmd: Command, ch: int, digits: int, lo_khz: int = 470000,
                      hi_khz: int = 1000000, step_khz: int = 25
                      ) -> tuple[tuple[int | None, str], list[bytes]]:
    v = cmd.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise CommandInvalid("frequency must be a whole number of kHz")
    if not lo_khz <= v <= hi_khz:
        raise CommandInvalid(f"frequency must be {lo_khz}..{hi_khz} kHz, not {v}")
    if v % step_khz:
        raise CommandInvalid(f"frequency must be a multiple of {step_khz} kHz")
    return (ch, "FREQUENCY"), [frame("SET", ch, "FREQUENCY", f"{v:0{digits}d}")]


def mute_value(cmd: Command) -> bool:
    if not isinstance(cmd.value, bool):
        raise CommandInvalid("mute needs true or false")
    return cmd.value
