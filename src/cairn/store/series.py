"""A metric series in memory: three parallel arrays (kept import-light for the SDK)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass


@dataclass
class Series:
    """Points of one metric, in logging order."""

    steps: array[int]
    values: array[float]
    times: array[int]

    @classmethod
    def empty(cls) -> Series:
        return cls(array("q"), array("d"), array("q"))

    def __len__(self) -> int:
        return len(self.steps)
