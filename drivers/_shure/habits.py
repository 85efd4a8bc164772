"""Habits: reply forms real receivers and other people's tools have, which a simulator can
be told to have too (``"simulate": {"habits": [...]}`` in a device's configuration).

Every Shure TCP simulator knows :data:`COMMON`; a family adds its own (``HABITS`` on the
simulator class). shure.md section 2b lists where each comes from.

============================  ==========================================================
``no_get0``                   ``GET 0 ALL`` gets no answer at all (not even ``REP ERR``)
``no_device_gets``            device-level GETs (``GET DEVICE_ID``, the keepalive, ``GET
                              MODEL`` ...) are never answered; channel GETs are
``unbraced_names``            ``CHAN_NAME`` is sent bare and unpadded: ``CHAN_NAME Choir L``
``crlf``                      every frame is followed by CR LF
``garbage_bursts``            a burst of random bytes every half minute or so (the first
                              after a minute and a half or so)
``per_antenna_rssi``          (SLX-D) ``RSSI 1 vvv`` / ``RSSI 2 vvv`` instead of ``RSSI vvv``
``group_chan``                (SLX-D) ``GROUP_CHAN`` instead of ``GROUP_CHANNEL``
``fd_combined``               (Axient) frequency diversity combined: FD-C SAMPLE layout
``report_verb``               (PSM1000) replies say ``REPORT`` instead of ``REP``
============================  ==========================================================

Braced names holding ``<`` or ``>`` need no habit: give the simulator such names.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

COMMON: frozenset[str] = frozenset(
    {"no_get0", "no_device_gets", "unbraced_names", "crlf", "garbage_bursts"}
)
#: seconds between two garbage bursts (uniformly drawn); the first comes a minute later
#: still, so a demo or test that has just started sees a clean link
GARBAGE_EVERY_S = (20.0, 45.0)
FIRST_GARBAGE_S = 60.0


def check(habits: Iterable[str], allowed: frozenset[str], family: str) -> frozenset[str]:
    """The habits as a set; ValueError names an unknown one and the known ones."""
    chosen = frozenset(habits)
    unknown = sorted(chosen - allowed)
    if unknown:
        raise ValueError(f"{family} simulator has no habit {unknown[0]!r}; "
                         f"known: {', '.join(sorted(allowed))}")
    return chosen


def garbage(rng: random.Random) -> bytes:
    """A burst of line noise: 32..200 random bytes."""
    return bytes(rng.randrange(256) for _ in range(rng.randint(32, 200)))
