"""``< ... >`` framing: where a frame ends, and the tokens of one frame.

shure.md 2b: braced strings may hold ``<`` and ``>`` (SLX-D names allow them), so a
``{`` opens a string that only ``}`` closes and framing must not split inside it. A
receiver that sends garbage, or a frame cut off inside a string, must not swallow the
frames that follow, so a ``{`` only opens a string when it can be one:

- its ``}`` comes within :data:`MAX_STRING` bytes (the widest Shure string is 32
  characters), with no other ``{`` before it, and
- no ``>`` inside it is directly followed (spaces and CR/LF aside) by ``<``: that is a
  frame boundary, the string was never closed.

Otherwise the ``{`` is an ordinary byte. (A name holding ``>`` then ``<`` back to back is
therefore read as two frames; no source shows such a name.) Every decision depends only on
bytes already received, and the scanner answers :data:`MORE` until it has them, so any
split of a stream frames exactly as the whole stream does.
"""

from __future__ import annotations

import re
from typing import Final

from micboardd.drivers._shure.values import ProtocolViolation
from micboardd.drivers.base import CommandInvalid

#: A frame longer than this without its closing ``>`` is garbage; the buffer is dropped.
MAX_FRAME: Final = 2048
#: a ``{`` without its ``}`` this many bytes later does not open a string
MAX_STRING: Final = 128

#: scanner results besides a position: more bytes are needed / the ``{`` is no string
MORE: Final = -1
NOT_A_STRING: Final = -2

_STRING_STOP = re.compile(rb"[{}>]")
_NON_SPACE = re.compile(rb"[^ \t\r\n]")


def string_end(buf: bytes | bytearray, brace: int) -> int:
    """Index of the ``}`` closing the string opened at ``buf[brace]``, or
    :data:`NOT_A_STRING`, or :data:`MORE` when the bytes so far cannot tell."""
    n = len(buf)
    limit = brace + 1 + MAX_STRING
    pos = brace + 1
    while True:
        m = _STRING_STOP.search(buf, pos, min(n, limit))
        if m is None:
            return NOT_A_STRING if n >= limit else MORE
        c = buf[m.start()]
        if c == 0x7D:  # }
            return m.start()
        if c == 0x7B:  # { : a second opener, so the first one was none
            return NOT_A_STRING
        nxt = _NON_SPACE.search(buf, m.end())
        if nxt is None:
            return MORE  # '>' then nothing but spaces yet: '<' may come next
        if buf[nxt.start()] == 0x3C:  # '>' then '<': a frame boundary, no string
            return NOT_A_STRING
        pos = m.end()


def frame_end(buf: bytes | bytearray, start: int) -> tuple[int, int]:
    """Scan the frame opened by ``buf[start] == '<'``.

    Returns ``(end, -1)`` with the index of its closing ``>``; ``(-1, cut)`` when another
    frame begins at ``cut`` before this one ended (this one was cut off); ``(-1, -1)``
    when more bytes are needed.
    """
    pos = start + 1
    while True:
        end = buf.find(b">", pos)
        lim = len(buf) if end < 0 else end
        brace = buf.find(b"{", pos, lim)
        cut = buf.find(b"<", pos, lim if brace < 0 else brace)
        if cut >= 0:
            return -1, cut
        if brace < 0:
            return end, -1
        close = string_end(buf, brace)
        if close == MORE:
            return -1, -1
        pos = brace + 1 if close == NOT_A_STRING else close + 1


def split_frame(body: bytes) -> list[str]:
    """Tokens of one frame body (without ``<`` ``>``); a ``{...}`` string is one token,
    braces removed and padding stripped. Tokens after the string are kept."""
    brace = body.find(b"{")
    if brace < 0:
        return body.decode("ascii", "replace").split()
    end = body.find(b"}", brace + 1)
    if end < 0:
        raise ProtocolViolation("unterminated {string}")
    tokens = body[:brace].decode("ascii", "replace").split()
    tokens.append(body[brace + 1 : end].decode("utf-8", "replace").rstrip())
    if end + 1 < len(body):
        tokens.extend(body[end + 1 :].decode("ascii", "replace").split())
    return tokens


def encode_string(value: str, width: int) -> str:
    """Validate a name for SET: printable ASCII, no braces or angle brackets, ``width``
    characters at most."""
    if not isinstance(value, str):
        raise CommandInvalid("name must be a string")
    if not value.strip():
        raise CommandInvalid("name must not be empty")
    if len(value) > width:
        raise CommandInvalid(f"name is {len(value)} characters; this family takes {width}")
    if any(not (32 <= ord(c) < 127) or c in "{}<>" for c in value):
        raise CommandInvalid("name may contain printable ASCII only, without {} or <>")
    return "{" + value + "}"


def frame(*parts: object) -> bytes:
    return ("< " + " ".join(str(p) for p in parts) + " >").encode("ascii")
