"""Secrets in the configuration: typed so they cannot leak by accident, the token hash
format, and the warning for a configuration file other users can read.

A :data:`Secret` is a pydantic ``SecretStr``: ``str()``, ``repr()`` and so every log line
and traceback show ``**********``; code that needs the value asks for it with
``get_secret_value()``. Dumping a configuration (to save it again) keeps the value unless
the dump is asked to mask it with ``context=MASK`` (what the audit trail records).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import PlainSerializer, SecretStr, SerializationInfo

#: ``model_dump(context=MASK)``: secrets come out as ``***``
MASK = {"secrets": "mask"}


def _dump(value: SecretStr, info: SerializationInfo) -> str:
    ctx = info.context
    if isinstance(ctx, dict) and ctx.get("secrets") == "mask":
        return "***"
    return value.get_secret_value()


Secret = Annotated[SecretStr, PlainSerializer(_dump, return_type=str, when_used="always")]

#: ``scrypt$N$r$p$salt$hash`` (salt and hash in unpadded base64url)
TOKEN_HASH = re.compile(
    r"^scrypt\$(?P<n>\d{1,8})\$(?P<r>\d{1,2})\$(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9_-]{22,88})\$(?P<hash>[A-Za-z0-9_-]{43})$")
LEGACY_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: scrypt cost bounds a configuration may ask for (a typo must not stall the daemon)
MIN_N, MAX_N = 2 ** 10, 2 ** 20
MAX_SCRYPT_MEM = 64 * 1024 * 1024


def check_token_hash(value: str) -> str | None:
    """What is wrong with a ``hash`` value, or None when it is usable."""
    m = TOKEN_HASH.match(value)
    if m is None:
        return ("expected scrypt$N$r$p$salt$hash as printed by `micboardd hash-token` "
                "(salt and hash in base64url)")
    n, r, p = int(m["n"]), int(m["r"]), int(m["p"])
    if n & (n - 1) or not MIN_N <= n <= MAX_N:
        return f"scrypt N must be a power of two from {MIN_N} to {MAX_N}"
    if not 1 <= r <= 32 or not 1 <= p <= 4 or 128 * n * r > MAX_SCRYPT_MEM // 2:
        return "scrypt r must be 1..32, p 1..4, and N*r*128 at most 32 MiB"
    return None


def url_without_password(url: str) -> str:
    """A URL fit for a log line: ``mqtt://user:secret@host`` -> ``mqtt://user:***@host``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    shown = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return parts._replace(netloc=shown).geturl()


def secret_values(cfg: Any) -> list[str]:
    """Every secret string of a configuration (for the log scrubber): MQTT passwords
    (the field and the URL's), token hashes."""
    out: list[str] = []
    mqtt = getattr(cfg, "mqtt", None)
    if mqtt is not None:
        if mqtt.password is not None:
            out.append(mqtt.password.get_secret_value())
        with_pw = urlsplit(mqtt.url).password
        if with_pw:
            out.append(with_pw)
    for t in cfg.http.tokens:
        for s in (t.hash, t.sha256):
            if s is not None:
                out.append(s.get_secret_value())
    return [s for s in out if len(s) >= 4]


def exposure_warning(path: Path, cfg: Any) -> str | None:
    """Why a configuration file holding secrets is too open, or None. Other users may not
    read it; its group may (``root:micboardd 0640`` is the packaged layout)."""
    if not cfg.http.tokens and not (cfg.mqtt is not None and (
            cfg.mqtt.password is not None or urlsplit(cfg.mqtt.url).password)):
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        return (f"{path} holds token hashes or passwords and other users can "
                f"{'write' if mode & stat.S_IWOTH else 'read'} it (mode "
                f"{stat.S_IMODE(mode):04o}); run: chmod o-rwx {path}")
    return None
