"""A small least-recently-used map.

The executor keeps compiled modules and schema validators by content hash; a
tenant cycling versions would otherwise grow those maps forever (issue 13).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Holds at most ``size`` entries; adding one more drops the least recently used."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)
