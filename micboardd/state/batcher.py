"""Pacing: changes become merge patches, batched by loop turn and by meter interval.

Every change made in one turn of the event loop becomes one patch, emitted on the next
turn. Meter changes (RF and audio levels, the runtime countdown, AUDIO_PEAK lighting and
going out) wait in a patch of their own that goes out once per ``meter_interval``, so ten
thousand SAMPLE frames a second become ten patches a second and a name or battery change
never waits for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from micboardd.state.mergepatch import JSON, merge_patches

#: (patch, meter_only) -> None; called once per emitted patch
Emit = Callable[[JSON, bool], None]


class PatchBatcher:
    def __init__(self, emit: Emit, before_meters: Callable[[], None], meter_interval: float,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._emit = emit
        self._before_meters = before_meters  # fold the latest meters in before they go
        self.meter_interval = meter_interval
        self._loop = loop
        self.changes: JSON = {}
        self.meters: JSON = {}
        self._flush_scheduled = False
        self._meter_timer: asyncio.TimerHandle | None = None

    # -- collecting -------------------------------------------------------------------

    def pend(self, path: tuple[str, ...], values: JSON, meter: bool = False, *,
             schedule: bool = True) -> None:
        """Merge ``values`` into the pending patch at ``path`` and schedule its flush
        (``schedule=False``: the caller is flushing it now)."""
        node = self.meters if meter else self.changes
        for p in path:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict):
                merge_patches(node[k], v)
            else:
                node[k] = v
        if not schedule:
            return
        if meter:
            self.schedule_meter()
        else:
            self.schedule()

    def channel_node(self, key: str, meter: bool) -> JSON:
        """This channel's node in the pending patch (the hot path writes into it
        directly; the caller schedules the flush)."""
        target = self.meters if meter else self.changes
        chans = target.get("channels")
        if chans is None:
            chans = target["channels"] = {}
        node = chans.get(key)
        if node is None:
            node = chans[key] = {}
        return node

    def forget_meters(self, key: str) -> None:
        """A channel went away: its pending meters must not resurrect it."""
        chans = self.meters.get("channels")
        if chans:
            chans.pop(key, None)

    # -- flushing ---------------------------------------------------------------------

    def schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._get_loop().call_soon(self._flush_changes)

    def schedule_meter(self) -> None:
        if self._meter_timer is None:
            self._meter_timer = self._get_loop().call_later(self.meter_interval,
                                                            self._flush_meters)

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _flush_changes(self) -> None:
        """Next loop turn after a change: emit it without waiting for the meters."""
        self._flush_scheduled = False
        if self.changes:
            patch, self.changes = self.changes, {}
            self._emit(patch, False)

    def _flush_meters(self) -> None:
        """Every meter interval: the meters that changed, as one meter-only patch."""
        self._meter_timer = None
        self._before_meters()
        if self.meters:
            patch, self.meters = self.meters, {}
            self._emit(patch, True)

    def flush(self) -> None:
        """Emit everything pending now as one patch, meters included (shutdown, tests)."""
        self._flush_scheduled = False
        if self._meter_timer is not None:
            self._meter_timer.cancel()
            self._meter_timer = None
        self._before_meters()
        patch, meter = self.changes, self.meters
        if not patch and not meter:
            return
        meter_only = not patch
        if meter:
            # the important changes win over meters of the same field
            patch = merge_patches(meter, patch) if patch else meter
        self.changes = {}
        self.meters = {}
        self._emit(patch, meter_only)
