"""Ids of the peer's objects (calls, items, responses, events), unique in the process."""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"
