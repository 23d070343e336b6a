"""The search kernels' priority queue: a 4-ary min-heap of (f, cell) in two flat numba arrays.

Entries are never decreased or removed: a cell found again with a lower g is pushed again, and
the stale entry is skipped when it pops (lazy deletion). The kernels own the arrays (allocated
per search, grown by doubling) and the size; these functions only move entries.

numba's cache (cache=True) notices a change to a kernel's own file only: heap_push and heap_pop
are inlined into `search` and `jps`, whose cached machine code does not see an edit here. After
editing this file, delete robot_vision_nav/core/planner/__pycache__/*.nb[ci] (or touch search.py
and jps.py).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, inline="always")
def heap_push(hf: NDArray[np.float64], hn: NDArray[np.int64], size: int, f: float, node: int) -> int:
    """Add an entry to the 4-ary min-heap on f (capacity checked by the caller); return the new size."""
    i = size
    while i > 0:
        up = (i - 1) >> 2
        if not f < hf[up]:
            break
        hf[i] = hf[up]
        hn[i] = hn[up]
        i = up
    hf[i] = f
    hn[i] = node
    return size + 1


@numba.njit(cache=True, inline="always")
def heap_pop(hf: NDArray[np.float64], hn: NDArray[np.int64], size: int) -> int:
    """Remove the top entry of the 4-ary heap (read it first); return the new size.

    The sift-down's comparisons cannot be predicted by the CPU and are what the search spends
    most of its time on: four children per node halve the depth of a binary heap (~1.3x faster
    here), and keeping f and the cell only (no g for tie-breaking) another ~1.5x.
    """
    size -= 1
    f = hf[size]
    node = hn[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_f = hf[first]
        last = min(first + 4, size)
        for j in range(first + 1, last):
            if hf[j] < best_f:
                best = j
                best_f = hf[j]
        if not best_f < f:
            break
        hf[i] = best_f
        hn[i] = hn[best]
        i = best
    if size > 0:
        hf[i] = f
        hn[i] = node
    return size


@numba.njit(cache=True)
def heap_grow(hf: NDArray[np.float64], hn: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The heap's arrays at twice the capacity."""
    return np.concatenate((hf, np.empty_like(hf))), np.concatenate((hn, np.empty_like(hn)))
