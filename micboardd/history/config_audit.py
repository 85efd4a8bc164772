"""What the audit trail records of a configuration: secrets masked, and only what changed
between two versions."""

from __future__ import annotations

from typing import Any

from micboardd.config import Config
from micboardd.config.secrets import MASK
from micboardd.state import JSON

_SECRET_KEYS = ("password", "sha256", "token", "secret")


def redact(value: Any) -> Any:
    """A copy of config data with secrets (passwords, token hashes, URL credentials) masked."""
    if isinstance(value, dict):
        out: JSON = {}
        for k, v in value.items():
            if isinstance(k, str) and any(s in k.lower() for s in _SECRET_KEYS) and v:
                out[k] = "***"
            elif k == "url" and isinstance(v, str) and "@" in v and "://" in v:
                scheme, rest = v.split("://", 1)
                out[k] = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value



def config_view(cfg: Config) -> JSON:
    view: JSON = redact(cfg.model_dump(mode="json", context=MASK))
    return view


#: list sections whose items have an identity: only changed items go into the audit
_ITEM_KEYS = {"devices": "id", "slots": "slot", "groups": "name"}


def config_changes(old: JSON, new: JSON) -> tuple[JSON, JSON]:
    """(before, after) of what changed between two config views: whole sections, or for
    devices/slots/groups the changed items only (``"devices[rx-1]"``)."""
    before: JSON = {}
    after: JSON = {}
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        ident = _ITEM_KEYS.get(k)
        if ident and isinstance(a, list) and isinstance(b, list):
            ia = {str(x.get(ident)): x for x in a if isinstance(x, dict)}
            ib = {str(x.get(ident)): x for x in b if isinstance(x, dict)}
            for i in sorted(set(ia) | set(ib)):
                if ia.get(i) != ib.get(i):
                    before[f"{k}[{i}]"] = ia.get(i)
                    after[f"{k}[{i}]"] = ib.get(i)
            if [str(x.get(ident)) for x in a if isinstance(x, dict)] != [
                    str(x.get(ident)) for x in b if isinstance(x, dict)]:
                before[f"{k}.order"] = list(ia)
                after[f"{k}.order"] = list(ib)
        else:
            before[k], after[k] = a, b
    return before, after
