"""``int(rng.integers(n))``, the same value and generator state, without numpy's per-call overhead.

A search draws a handful of small integers per evaluation (REA: three tournament picks and two for the
mutation); ``Generator.integers`` spends ~2.5 us per scalar call on argument handling, a lock and a
numpy scalar, against ~0.4 us for the draw itself. :func:`randbelow` computes the same value the way
numpy does it (``random_bounded_uint64_fill`` for a range below 2**32: Lemire's multiply-and-reject on
the bit generator's ``next_uint32``, whose buffered half-words live in the generator's own state), calling
``next_uint32`` through the bit generator's public ``ctypes`` interface. So the stream, and the state the
generator is left in, are numpy's own: any other call on the generator (``random``, ``choice``,
``integers``) continues exactly where it would have.

Before the first use in a process, a self-check compares a few hundred draws and the final generator
state with ``Generator.integers`` (several ranges, rejections included); on any difference (another
numpy algorithm) every call falls back to ``int(rng.integers(n))``. Other generators than
``numpy.random.Generator`` itself, and ``n`` that is not a Python int in ``1 .. 2**32 - 1``, always take
the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_MAX = 0xFFFFFFFF  # ranges [0, n) with n <= _MAX are drawn from 32-bit words, as numpy does
_SAMPLERS: dict[int, tuple[Any, Callable[[int], int]]] = {}  # id(rng) -> (rng kept alive, sampler)
_MAX_SAMPLERS = 64
_FUNCS: dict[int, Callable[[int], int]] = {}  # next_uint32 address -> a GIL-holding ctypes function
_OK: bool | None = None  # the self-check's verdict (None: not run yet)


def _exact(rng: np.random.Generator) -> Callable[[int], int]:
    """Lemire's bounded draw on ``rng``'s own ``next_uint32`` (numpy's ``buffered_bounded_lemire_uint32``)."""
    import ctypes

    iface = rng.bit_generator.ctypes
    address = ctypes.cast(iface.next_uint32, ctypes.c_void_p).value or 0
    nxt = _FUNCS.get(address)
    if nxt is None:
        nxt = _FUNCS[address] = ctypes.PYFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)(address)
    state = iface.state_address
    integers = rng.integers

    def draw(n: int) -> int:
        if n.__class__ is not int or not 1 < n <= _MAX:
            return 0 if n.__class__ is int and n == 1 else int(integers(n))  # n == 1: numpy draws nothing
        m = nxt(state) * n
        if (m & _MAX) < n:
            threshold = (_MAX + 1 - n) % n
            while (m & _MAX) < threshold:
                m = nxt(state) * n
        return m >> 32

    return draw


def _self_check() -> bool:
    try:
        mine, ref = np.random.default_rng(20240607), np.random.default_rng(20240607)
        draw = _exact(mine)
        picks = np.random.default_rng(1)
        sizes = (1, 2, 3, 4, 5, 6, 9, 10, 100, 15_625, 2**31 + 11, 3_000_000_000, _MAX)
        for _ in range(400):
            n = sizes[int(picks.integers(len(sizes)))]
            if draw(n) != int(ref.integers(n)):
                return False
        return mine.random() == ref.random() and mine.bit_generator.state == ref.bit_generator.state
    except Exception:  # noqa: BLE001 - no ctypes, no interface: numpy's own call then
        return False


_LAST: tuple[Any, Callable[[int], int]] = (None, int)  # the last generator asked about, and its sampler


def sampler(rng: np.random.Generator) -> Callable[[int], int]:
    """A function ``n -> int(rng.integers(n))`` for this generator (same values, same state after)."""
    global _OK, _LAST
    last = _LAST
    if last[0] is rng:
        return last[1]
    hit = _SAMPLERS.get(id(rng))
    if hit is not None and hit[0] is rng:
        _LAST = hit
        return hit[1]
    if _OK is None:
        _OK = _self_check()
    if _OK and type(rng) is np.random.Generator:
        fn = _exact(rng)
    else:
        integers = rng.integers

        def fn(n: int) -> int:
            return int(integers(n))

    if len(_SAMPLERS) >= _MAX_SAMPLERS:
        _SAMPLERS.pop(next(iter(_SAMPLERS)))
    _SAMPLERS[id(rng)] = _LAST = (rng, fn)
    return fn


def randbelow(rng: np.random.Generator, n: int) -> int:
    """``int(rng.integers(n))``: the same value, and the same generator state after the call."""
    return sampler(rng)(n)
