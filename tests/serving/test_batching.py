"""Micro-batching: concurrent requests share one model call and each gets its own answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cairn.model_server.batching import MicroBatcher


class Doubler:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: list[list[Any]]) -> list[Any]:
        self.calls.append(len(rows))
        if any(r[0] == "bad" for r in rows):
            raise ValueError("cannot score 'bad'")
        return [r[0] * 2 for r in rows]


def test_concurrent_requests_are_scored_together() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_size=8, max_latency_ms=50)

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(batcher.submit([[i]]) for i in range(8)))

    results = asyncio.run(main())
    assert results == [[2 * i] for i in range(8)]
    assert model.calls == [8]  # one call, released as soon as the batch was full


def test_a_lone_request_waits_at_most_the_latency_bound() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_size=100, max_latency_ms=1)
    assert asyncio.run(batcher.submit([[3], [4]])) == [6, 8]
    assert model.calls == [2]


def test_a_bad_request_fails_alone() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_size=3, max_latency_ms=50)

    async def main() -> list[Any]:
        return await asyncio.gather(batcher.submit([[1]]), batcher.submit([["bad"]]),
                                    batcher.submit([[5]]), return_exceptions=True)

    good, bad, other = asyncio.run(main())
    assert good == [2] and other == [10]
    assert isinstance(bad, ValueError)


def test_large_requests_skip_the_queue() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_size=4, max_latency_ms=1000)
    assert asyncio.run(batcher.submit([[i] for i in range(10)])) == [2 * i for i in range(10)]
    assert batcher.batches == 0


@pytest.mark.parametrize("size", [0, -3])
def test_sizes_below_one_mean_one(size: int) -> None:
    assert MicroBatcher(Doubler(), max_size=size).max_size == 1
