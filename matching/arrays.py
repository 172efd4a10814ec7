"""Sorting-based distinct values of integer arrays.

``numpy.unique`` on a large ``int64`` array takes a hashing path in numpy 2.x that measured about
80 times slower than a sort on this machine (6 s against 0.07 s for 3 million values), and the
engine calls it on millions of packed pair codes: these two functions do the same with one sort.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["distinct", "distinct_inverse"]


def distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values, sorted (``numpy.unique(values)``)."""
    if not len(values):
        return values.copy()
    s = np.sort(values)
    out: npt.NDArray[np.int64] = s[np.r_[True, s[1:] != s[:-1]]]
    return out


def distinct_inverse(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """The distinct values and, per input value, its index among them (``return_inverse=True``)."""
    if not len(values):
        return values.copy(), np.zeros(0, dtype=np.intp)
    order = np.argsort(values, kind="stable")
    s = values[order]
    first = np.r_[True, s[1:] != s[:-1]]
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse
