"""Write tokens: making one, hashing it for the configuration, checking one against a hash.

The configuration keeps ``scrypt$N$r$p$salt$hash`` (standard library ``hashlib.scrypt``,
a random 16-byte salt per token, N=2^14 r=8 p=1: about 40 ms and 16 MiB per check, and
the daemon checks a token once per process: see :class:`~.auth.Guard`). The old unsalted
SHA-256 hex form is still accepted (``http.tokens[].sha256``), with a warning at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import zlib

from micboardd.config.secrets import TOKEN_HASH

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_BITS = 128
_MAXMEM = 64 * 1024 * 1024
_ZLIB_OVERHEAD = 8  # header, checksum and block framing of zlib's output
#: the alphabets a token's characters are taken from, smallest first
_ALPHABETS = (
    ("0123456789abcdef", 16),
    ("0123456789ABCDEF", 16),
    ("abcdefghijklmnopqrstuvwxyz234567", 32),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 64),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 64),
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_token() -> str:
    """A new token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def make_token_hash(token: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                    p: int = SCRYPT_P) -> str:
    """What goes in ``http.tokens[].hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_token_hash(token: str, stored: str) -> bool:
    """Whether ``token`` is the one ``stored`` was made from (constant-time compare)."""
    m = TOKEN_HASH.match(stored)
    if m is None:
        return False
    digest = hashlib.scrypt(token.encode(), salt=_unb64(m["salt"]), n=int(m["n"]),
                            r=int(m["r"]), p=int(m["p"]), dklen=32, maxmem=_MAXMEM)
    return hmac.compare_digest(digest, _unb64(m["hash"]))


def verify_legacy_sha256(token: str, stored_hex: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), stored_hex)


def hash_token(token: str) -> str:
    """Deprecated: the unsalted SHA-256 hex of ``http.tokens[].sha256`` (kept for
    configurations written before the scrypt form; use :func:`make_token_hash`)."""
    return hashlib.sha256(token.encode()).hexdigest()


def entropy_bits(token: str) -> float:
    """An upper estimate of a token's entropy: its length times the bits per character of
    the smallest usual alphabet holding all its characters (hex, base32, base64,
    printable ASCII, else 8 bits), capped by how far it compresses (``aaaa...`` or
    ``abcdabcd...`` are worth little, whatever their length). It cannot see that a token
    is a word or a date: generated tokens are the safe choice."""
    if not token:
        return 0.0
    chars = set(token)
    per_char = math.log2(95) if all(32 <= ord(c) < 127 for c in token) else 8.0
    for alphabet, size in _ALPHABETS:
        if chars <= set(alphabet):
            per_char = math.log2(size)
            break
    data = token.encode()
    compressed = max(0, len(zlib.compress(data, 9)) - _ZLIB_OVERHEAD) * 8
    return min(len(token) * per_char, float(compressed))


def token_problem(token: str) -> str | None:
    """Why ``token`` is too weak to be a write token, or None."""
    bits = entropy_bits(token)
    if bits < MIN_BITS:
        return (f"this token has at most about {bits:.0f} bits of entropy; "
                f"{MIN_BITS} are needed (let `micboardd hash-token --generate` make one)")
    return None
