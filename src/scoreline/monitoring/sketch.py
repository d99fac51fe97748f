"""Mergeable sketches for one-pass statistics: a KLL quantile sketch (the structure Model
Monitor writes under ``distribution.kll.sketch``) and a k-minimum-values distinct counter.

Both merge across chunks and workers, and both are deterministic (seeded), so the same data
gives the same ``statistics.json``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

KLL_K = 4096
"""Twice Model Monitor's 2048 (the file states the k it was built with): the CDF error at
1M rows is at most about 0.0008 instead of 0.0015 (``tests/test_oracles.py``)."""
KLL_C = 0.64
KMV_K = 1024
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


class KLLSketch:
    """Quantile sketch: level ``h`` holds items of weight ``2**h``; a full level is sorted and
    every other item (random offset) moves up a level."""

    def __init__(self, k: int = KLL_K, c: float = KLL_C, seed: int = 0) -> None:
        self.k = k
        self.c = c
        self.levels: list[np.ndarray] = [np.empty(0)]
        self._rng = np.random.default_rng(seed)

    def update(self, values: np.ndarray) -> None:
        if not values.size:
            return
        # A large chunk goes straight to the level it fits: every 2**h-th value of the
        # sorted chunk from a random offset, weighted 2**h, is what h rounds of compaction
        # would keep (each value stands for its neighbours in rank, so the sketch's CDF
        # stays within 2**-h of the chunk's). Striding unsorted values instead kept a row
        # sample, whose CDF was off by up to 0.026 at 1M rows.
        level = 0
        while values.size >> level > self.k:
            level += 1
        if level:
            step = 1 << level
            values = np.sort(values)[int(self._rng.integers(step)) :: step]
        while len(self.levels) <= level:
            self.levels.append(np.empty(0))
        self.levels[level] = np.concatenate([self.levels[level], values.astype(np.float64)])
        self._compress()

    def merge(self, other: KLLSketch) -> None:
        while len(self.levels) < len(other.levels):
            self.levels.append(np.empty(0))
        for h, items in enumerate(other.levels):
            self.levels[h] = np.concatenate([self.levels[h], items])
        self._compress()

    def _capacity(self, h: int) -> int:
        depth = len(self.levels) - 1 - h
        return max(8, int(self.k * self.c**depth))

    def _compress(self) -> None:
        h = 0
        while h < len(self.levels):
            items = self.levels[h]
            if items.size > self._capacity(h):
                if h + 1 == len(self.levels):
                    self.levels.append(np.empty(0))
                items = np.sort(items)
                keep = items[-1:] if items.size % 2 else items[:0]
                pairs = items[: items.size - keep.size]
                offset = int(self._rng.integers(2))
                self.levels[h + 1] = np.concatenate([self.levels[h + 1], pairs[offset::2]])
                self.levels[h] = keep
            h += 1

    def exact_values(self) -> np.ndarray | None:
        """Every value the sketch has seen, when it has not compacted any (else None)."""
        if any(items.size for items in self.levels[1:]):
            return None
        return np.sort(self.levels[0])

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """Items sorted, with their weights."""
        values = np.concatenate(self.levels) if self.levels else np.empty(0)
        weights = np.concatenate(
            [np.full(items.size, 2.0**h) for h, items in enumerate(self.levels)]
        )
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Estimated fraction of values ``<= point`` for each point."""
        values, weights = self.weighted()
        total = weights.sum()
        if total == 0:
            return np.zeros(points.size)
        cumulative = np.concatenate([[0.0], np.cumsum(weights)])
        result: np.ndarray = cumulative[np.searchsorted(values, points, side="right")] / total
        return result

    def buckets(self, low: float, high: float, count: int, n: float) -> list[dict[str, float]]:
        """``count`` equal-width buckets over [low, high], counts scaled to ``n`` values."""
        if not np.isfinite(low) or not np.isfinite(high):
            return []
        edges = np.linspace(low, high, count + 1) if high > low else np.array([low, high])
        fractions = self.cdf(edges)
        fractions[0] = self.cdf(np.array([np.nextafter(low, -np.inf)]))[0]
        fractions[-1] = 1.0
        counts = np.diff(np.round(fractions * n))  # rounded cumulatively: they sum to n
        return [
            {
                "lower_bound": float(edges[i]),
                "upper_bound": float(edges[i + 1]),
                "count": float(round(counts[i])),
            }
            for i in range(len(counts))
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": {"c": self.c, "k": float(self.k)},
            "data": [items.tolist() for items in self.levels],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KLLSketch:
        params = data.get("parameters", {})
        sketch = cls(int(params.get("k", KLL_K)), float(params.get("c", KLL_C)))
        sketch.levels = [np.asarray(level, dtype=np.float64) for level in data.get("data", [])]
        if not sketch.levels:
            sketch.levels = [np.empty(0)]
        return sketch


def hash_numbers(values: np.ndarray) -> np.ndarray:
    """A 64-bit mix (splitmix64) of each float's bits."""
    x = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64).copy()
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def hash_strings(values: list[str]) -> np.ndarray:
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little")
            for v in values
        ),
        dtype=np.uint64,
        count=len(values),
    )


class DistinctCounter:
    """k-minimum-values estimate of the number of distinct values; exact below ``k``."""

    def __init__(self, k: int = KMV_K) -> None:
        self.k = k
        self.smallest = np.empty(0, dtype=np.uint64)

    def update_hashes(self, hashes: np.ndarray) -> None:
        if self.smallest.size >= self.k:
            hashes = hashes[hashes < self.smallest[-1]]  # most values are dropped cheaply here
        merged = np.unique(np.concatenate([self.smallest, hashes]))
        self.smallest = merged[: self.k]

    def merge(self, other: DistinctCounter) -> None:
        self.update_hashes(other.smallest)

    def estimate(self) -> int:
        if self.smallest.size < self.k:
            return int(self.smallest.size)
        kth = float(self.smallest[-1]) / 2.0**64
        return round((self.k - 1) / kth)
