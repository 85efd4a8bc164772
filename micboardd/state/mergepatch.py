"""RFC 7396 JSON merge patches: apply one, combine two, compute one.

Every change to the state travels as a merge patch (``null`` deletes a key; an object
merges into an object; anything else replaces). These three functions are all the
patch algebra the daemon needs.
"""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]

_MISSING = object()


def merge_into(target: JSON, patch: JSON) -> None:
    """Apply an RFC 7396 merge patch in place."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            if not isinstance(cur, dict):
                cur = target[k] = {}
            merge_into(cur, v)
        else:
            target[k] = v


def merge_patches(first: JSON, second: JSON) -> JSON:
    """One merge patch with the effect of ``first`` then ``second`` (in place on first).

    Exact except when ``second`` puts an object where ``first`` deleted one; callers
    that coalesce treat a deleted-then-recreated key as a reason to resynchronise.
    """
    for k, v in second.items():
        cur = first.get(k)
        if isinstance(v, dict) and isinstance(cur, dict):
            merge_patches(cur, v)
        else:
            first[k] = copy.deepcopy(v) if isinstance(v, dict) else v
    return first


def diff_into(cur: JSON, new: JSON) -> JSON:
    """Make ``cur`` equal to ``new`` in place; return the merge patch that did it."""
    patch: JSON = {}
    for k, v in new.items():
        c = cur.get(k, _MISSING)
        if isinstance(v, dict) and isinstance(c, dict):
            sub = diff_into(c, v)
            if sub:
                patch[k] = sub
        elif c is _MISSING or c != v or type(c) is not type(v):
            cur[k] = copy.deepcopy(v)
            patch[k] = copy.deepcopy(v)
    for k in [k for k in cur if k not in new]:
        del cur[k]
        patch[k] = None
    return patch
