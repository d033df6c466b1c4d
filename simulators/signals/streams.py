"""Counter-based random streams: the same (seed, key, index) gives the same number in any window. Pure (numpy only)."""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence

from simulators.signals.base import _STREAM_BASE, F64


def _words(seed: int, key: str) -> list[int]:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    return [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *struct.unpack("<4I", digest)]


def uniform(seed: int, key: str, index0: int, n: int) -> F64:
    """Uniforms [0, 1) number index0 … index0+n-1 of the stream (seed, key): random access, O(log index)."""
    bg = PCG64(SeedSequence(_words(seed, key)))
    bg.advance(index0 + _STREAM_BASE)
    return Generator(bg).random(n)


def normal(seed: int, key: str, index0: int, n: int) -> F64:
    """Standard normals by Box-Muller from pairs of the uniform stream (random access, like `uniform`)."""
    u = uniform(seed, key, 2 * index0, 2 * n)
    return np.sqrt(-2.0 * np.log1p(-u[0::2])) * np.cos(2.0 * np.pi * u[1::2])


def stable_fraction(key: str) -> float:
    """A fixed number in [0, 1) for a name: phases and start values that do not depend on the seed."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") / 2**64


def ar1(seed: int, key: str, index0: int, n: int, tau: float, sigma: float) -> F64:
    """A stationary AR(1) (sampled Ornstein-Uhlenbeck) with correlation time `tau` steps and s.d. `sigma`.

    Computed as the filter x[i] = sum_j phi^j e[i-j] over the absolute noise stream,
    truncated where phi^j < e^-8, so it needs no start state and is window-independent.
    """
    phi = math.exp(-1.0 / tau)
    taps = math.ceil(8.0 * tau)
    e = normal(seed, key, index0 - taps + 1, n + taps - 1)
    kernel = phi ** np.arange(taps, dtype=np.float64)
    return np.convolve(e, kernel, mode="valid") * (sigma * math.sqrt(1.0 - phi * phi))
