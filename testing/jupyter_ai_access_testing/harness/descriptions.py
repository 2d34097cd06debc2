"""Edit pool descriptions in tests: a deep copy with one entry replaced."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["with_entry"]


def with_entry(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with the entry at ``path`` (dotted; list indexes as numbers) set."""
    result = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return result
