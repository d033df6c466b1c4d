"""The constants, types and error every signal module shares. Pure (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday: counters integrate from here
_STREAM_BASE = 1 << 26  # stream indices are offset so that times a little before the epoch still have one
HOUR, DAY = 3600, 86400
LEUVEN_LAT, LEUVEN_LON = 50.879, 4.700


class SignalError(ValueError):
    pass
