"""Where the runs of a grid are computed: this process, a local process pool, or a Ray cluster.

An executor maps a function over items and yields ``(item, result)`` as results arrive; the driver
(bench.runner.run_grid) writes every file, so workers need no shared filesystem.

Local pool, interrupts and orphans: workers ignore SIGINT (a Ctrl-C reaches the whole process group;
only the driver acts on it) and die with their parent (``PR_SET_PDEATHSIG`` on Linux, plus a thread
that watches the parent pid elsewhere). On Ctrl-C, an error or ``kill`` of the driver, pending runs
are cancelled and the workers terminated at once: no run starts after the interrupt, and the runs in
flight are dropped unwritten (their files do not exist, so the next command recomputes them).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol


class Executor(Protocol):
    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def one_thread() -> None:
    """Numerical libraries on one thread: workers share the cores (oversubscription cost 50x here)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _worker_init(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    one_thread()


class SerialExecutor:
    """Runs each item in this process, in order, on one thread per library like a pool worker (the same
    float-summation order as any worker count; torch's default threads on a loaded 2-core machine made
    a tiny supernet run 20x slower)."""

    def __enter__(self) -> SerialExecutor:
        one_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, fn(item)


class PoolExecutor:
    """A local process pool of ``workers`` processes that never outlives the driver."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None
        self._froze = False

    def __enter__(self) -> PoolExecutor:
        import gc
        from concurrent.futures import ProcessPoolExecutor

        # What the driver holds (a benchmark table, its caches) goes to the collector's permanent
        # generation before the workers fork: neither side's collections walk it, so the forked
        # workers share those pages instead of copying them (the gc module's advice for fork()).
        self._froze = gc.get_freeze_count() == 0  # someone else's freeze is theirs to undo
        if self._froze:
            gc.freeze()
        self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init,
                                         initargs=(os.getpid(),))
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        import gc

        try:
            if exc_type is None:
                self._pool.shutdown(wait=True)
            else:
                self.terminate()
        finally:
            if self._froze:
                gc.unfreeze()

    def terminate(self) -> None:
        """Cancel what has not started and kill the workers now (a second Ctrl-C is ignored meanwhile)."""
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() \
            else None
        try:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.kill()
            for p in procs:
                p.join(timeout=5)
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        items = iter(items)
        running: dict[Any, Any] = {}
        # At most two runs queued per worker: after an interrupt nothing else has been handed out.
        for item in items:
            running[self._pool.submit(fn, item)] = item
            if len(running) >= 2 * self.workers:
                break
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                yield item, fut.result()
                nxt = next(items, None)
                if nxt is not None:
                    running[self._pool.submit(fn, nxt)] = nxt


def chunked(items: Sequence[Any], size: int) -> list[tuple[Any, ...]]:
    """``items`` in consecutive tuples of ``size`` (the last may be shorter): a chunked map sends each
    tuple as one task, so per-task overhead (pickling, scheduling) is paid once per chunk."""
    size = max(1, int(size))
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


def chunk_size(n_items: int, workers: int, most: int = 16) -> int:
    """About four chunks per worker (balanced ends, little work lost to an interrupt), at most ``most``."""
    return max(1, min(most, -(-n_items // (4 * max(1, workers)))))


def make_executor(name: str = "local", workers: int = 1, address: str | None = None) -> Any:
    """``local`` (serial for one worker, else a process pool) or ``ray`` (the optional extra)."""
    if name == "local":
        if address:
            raise ValueError("--address is for --executor ray; drop it or add --executor ray")
        return SerialExecutor() if workers <= 1 else PoolExecutor(workers)
    if name == "ray":
        from nasrepro.bench.ray_executor import RayExecutor

        return RayExecutor(workers=workers, address=address)
    raise ValueError(f"unknown --executor {name!r}; choose local or ray")
