"""What people do to an episode, and what the episode does back: acknowledging (who,
when, an optional note), and re-opening when it gets worse after it was acknowledged.

Acknowledging is idempotent: an episode already acknowledged stays as it is, so asking
twice (two people at once, a retried request, "all" after "this one") writes one
acknowledgement, one audit row and one ``alert_ack`` event. ``acked_by`` is who asked:
the token's ``name`` (``http.tokens[].name``), or ``loopback`` when no token is
configured.

**Re-opening**: an acknowledged episode goes back to ``open`` when its severity rises
(``warning`` -> ``critical``): the battery that was "replace soon" is now "critical", the
transmitter that was switched off (a warning) was lost in a dropout (critical). The
acknowledgement then moves to ``previous_ack`` and ``reopened`` says when. Nothing else
re-opens an episode: a value falling further at the same severity (20 min left, then 12),
a changed message at the same severity, or a flap that stays inside the episode's clear
hold; whoever acknowledged it knows, and each step would only nag. The severity of an
episode never falls (its worst stands), so it re-opens at most once; rules with one
severity (RF low, interference, encryption, receiver offline) never re-open.
"""

from __future__ import annotations

from micboardd.state import JSON

MAX_NOTE = 256  # characters of an acknowledgement's note
MAX_WHO = 64  # characters of a token's name as kept with the episode

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

#: an episode's acknowledgement fields before anyone acknowledged it
UNACKED: JSON = {"acked": None, "acked_by": None, "ack_note": None, "reopened": None,
                 "previous_ack": None}


def clean_note(note: str | None) -> str | None:
    """One line of at most MAX_NOTE characters, or None when there is nothing in it."""
    if note is None:
        return None
    return " ".join(note.split())[:MAX_NOTE] or None


def acknowledge(alert: JSON, who: str, note: str | None, now: float) -> JSON | None:
    """The episode acknowledged by ``who``; None when it already was (nothing to write)."""
    if alert["state"] == "acknowledged":
        return None
    return {**alert, "state": "acknowledged", "acked": round(now, 3),
            "acked_by": who[:MAX_WHO], "ack_note": clean_note(note)}


def clearing(alert: JSON, good_since: float | None) -> JSON | None:
    """The episode with ``clearing_since`` (when its condition went away: it resolves
    ``clear_after_s`` later unless it comes back; None while the condition holds or is
    not known); None when that is what the episode already says."""
    since = round(good_since, 3) if good_since is not None else None
    if alert.get("clearing_since") == since:
        return None
    return {**alert, "clearing_since": since}


def gets_worse(alert: JSON, severity: str) -> bool:
    """An acknowledged episode whose severity rises to ``severity``: it re-opens."""
    return alert["state"] == "acknowledged" and (
        SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(alert["severity"], 0))


def reopen(alert: JSON, now: float) -> JSON:
    """The acknowledged episode open again; its acknowledgement kept as ``previous_ack``."""
    return {**alert, **UNACKED, "state": "open", "reopened": round(now, 3),
            "previous_ack": {k: alert[k] for k in ("acked", "acked_by", "ack_note")}}


def restored(alert: JSON, row: JSON) -> JSON:
    """An episode taken up after a restart with what the history knew of its
    acknowledgement (history/journal.py: the last ``alert_ack`` or ``alert_reopen``)."""
    if row.get("acked") is not None:
        return {**alert, "state": "acknowledged", "acked": row["acked"],
                "acked_by": row.get("acked_by"), "ack_note": row.get("ack_note"),
                "reopened": row.get("reopened"), "previous_ack": row.get("previous_ack")}
    if row.get("reopened") is not None:
        return {**alert, "reopened": row["reopened"], "previous_ack": row.get("previous_ack")}
    return alert


def in_group(alert: JSON, group: str, slots: list[JSON]) -> bool:
    """Whether an episode is one of a slot group's: its channel is in a slot of the
    group, or (a receiver's episode) one of the receiver's channels is. Alerts about
    micboardd itself are in no group."""
    channel, device = alert.get("channel"), alert.get("device")
    for s in slots:
        key = s.get("channel")
        if not key or s.get("group") != group:
            continue
        if key == channel or (channel is None and device is not None
                              and key.rpartition("/")[0] == device):
            return True
    return False


def alert_id(subject: str, rule: str, opened: float) -> str:
    """An episode's id, opaque and URL-safe: ``rx-band-a~1~battery~1732250000123``."""
    return f"{subject.replace('/', '~')}~{rule}~{int(opened * 1000)}"
