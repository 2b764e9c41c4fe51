"""splitmix64, the integer hash behind every draw that must be a pure function of its inputs.

The synthetic backends draw their noise and their rugged field from it, and the table backend picks a
recorded run per (pipeline, seed) with it: the same bits on every machine, in every process, in any order,
with no global random state.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Vectorised splitmix64 finaliser (uint64 arithmetic wraps, as the algorithm needs)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
