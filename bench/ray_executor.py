"""Runs a grid's items as Ray tasks: on a local Ray instance, or on a cluster (``ray start --head``).

Same interface as :class:`bench.executors.PoolExecutor`: a context manager whose ``imap_unordered(fn,
items)`` yields ``(item, result)`` as results arrive. The driver (``bench.runner.run_grid``, the proxy
scoring loop of ``nasrepro correlate``) writes every file, so workers return results and need no
shared filesystem; they need nasrepro installed, and any data file named by a run's options at the
same path (the embedded NB201 table ships with a package).

- Resources: each task asks for one CPU; live training (``nb201-live``) and supernet runs also ask for
  one GPU when the cluster has any (:func:`task_resources`, a function of the RunSpec's ``bench``).
- Failures: a worker process that dies mid-task (killed, out of memory, a lost node) is retried
  elsewhere, ``max_retries`` times; each item maps to one task reference whose result the driver
  reads once, so nothing is lost or written twice. An exception raised by ``fn`` is not retried: it
  reaches the caller as itself (a bad option is the same one-line error as with the local pool).
- At most ``2 x`` the task slots are in flight (``workers`` for a local instance, the cluster's CPUs
  with ``address``), so an interrupt drops little work, and a long grid holds few references.
- Ctrl-C, an error or a closed generator: pending tasks are cancelled (their workers killed), and
  ``ray.shutdown()`` is called only when this executor called ``ray.init`` (for a local instance that
  stops it; for ``address`` it only disconnects this driver: the cluster stays up). A driver killed
  with ``kill -9`` takes the local instance it started with it (Ray's fate sharing), and its tasks on a
  cluster are dropped with their owner; nothing was written for them, so a rerun recomputes them.
- An already initialised Ray session (``ray.init`` by the caller) is used as it is and left running.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

RAY_MISSING = '--executor ray needs Ray: pip install -e ".[ray]"'
GPU_BENCHES = frozenset({"nb201-live", "supernet"})  # benchmarks that train or evaluate networks
MAX_RETRIES = 3
TASK_NAME = "nasrepro-task"  # a worker's process title while it runs one of our tasks: ray::nasrepro-task

_worker_ready = False


class MissingRayError(ValueError):
    """Ray is not installed (a ValueError, so the CLI prints it as one line)."""


# A local instance stays on loopback: by default Ray binds the machine's outward address, which a
# single-machine run (a laptop, a test, CI) has no reason to use. Read by Ray when it is imported;
# a cluster reached with --address keeps its own addresses (set the variable to 1 to override).
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def import_ray(local: bool = False) -> Any:
    if local:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise MissingRayError(RAY_MISSING) from None
    return ray


def task_resources(item: Any, gpus: bool = False) -> dict[str, float]:
    """Ray resources of one task: one CPU; plus one GPU for live training and supernet runs when the
    cluster has GPUs (``item`` is a RunSpec; other items, e.g. chunks of cells, take one CPU)."""
    res: dict[str, float] = {"num_cpus": 1}
    if gpus and getattr(item, "bench", None) in GPU_BENCHES:
        res["num_gpus"] = 1
    return res


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` address must accept a connection (``ray.init`` would retry for minutes); other
    forms (``auto``, ``ray://...``) are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise ValueError(f"--address {address}: no Ray cluster answers there ({err.strerror or err}); start one "
                         "with `ray start --head`, or drop --address for a local instance") from None


def _run_task(fn: Callable[[Any], Any], item: Any) -> Any:
    """Worker side: one thread per numerical library (once per worker process), then ``fn(item)``."""
    global _worker_ready
    if not _worker_ready:
        from nasrepro.bench.executors import one_thread

        one_thread()
        _worker_ready = True
    return fn(item)


class RayExecutor:
    """Ray tasks for ``imap_unordered``; ``address=None`` starts a local instance of ``workers`` CPUs."""

    def __init__(self, workers: int = 1, address: str | None = None, max_retries: int = MAX_RETRIES,
                 resources: Callable[[Any, bool], dict[str, float]] = task_resources) -> None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # fail before any run starts, in one line
            raise MissingRayError(RAY_MISSING)
        self.workers = max(1, int(workers))
        self.address = address or None
        if self.address is not None:
            check_address(self.address)  # here, before a progress bar: ray.init would retry for minutes
        self.max_retries = max_retries
        self.resources = resources
        self._ray: Any = None
        self._started = False
        self._gpus = False
        self._slots = self.workers
        self._pending: dict[Any, Any] = {}

    def __enter__(self) -> RayExecutor:
        ray = self._ray = import_ray(local=self.address is None)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address is None:
                kwargs["num_cpus"] = self.workers
                kwargs["_node_ip_address"] = "127.0.0.1"
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as err:
                raise ValueError(f"--address {self.address}: cannot connect to a Ray cluster ({err})") from None
            self._started = True
        cluster = ray.cluster_resources()
        self._gpus = cluster.get("GPU", 0) > 0
        # a local instance has `workers` CPUs; a cluster's own size sets how many tasks run at once
        self._slots = self.workers if self._started and self.address is None else \
            max(1, int(cluster.get("CPU", self.workers)))
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.terminate(shutdown=self._started)

    def terminate(self, shutdown: bool = True) -> None:
        """Cancel the pending tasks (killing their workers); shut Ray down if we started it. A second
        Ctrl-C is ignored meanwhile, so the clean-up is not cut short."""
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self._cancel()
            if shutdown and self._ray is not None and self._ray.is_initialized():
                self._ray.shutdown()
                self._started = False
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def _cancel(self) -> None:
        for ref in list(self._pending):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or its owner gone: nothing to cancel
                pass
        self._pending.clear()

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        ray = self._ray
        if ray is None:
            raise RuntimeError("use RayExecutor as a context manager: with RayExecutor(...) as ex: ...")
        from ray.exceptions import RayTaskError

        task = ray.remote(_run_task)
        # fn (a function, or a partial holding e.g. a minibatch of images) goes to the object store
        # once; each task then carries only its item
        fn_ref = ray.put(fn)
        it = iter(items)
        pending = self._pending

        def submit(item: Any) -> None:
            opts = {**self.resources(item, self._gpus), "max_retries": self.max_retries,
                    "retry_exceptions": False, "name": TASK_NAME}
            pending[task.options(**opts).remote(fn_ref, item)] = item

        try:
            for item in it:
                submit(item)
                if len(pending) >= 2 * self._slots:
                    break
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    item = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayTaskError as err:  # fn raised: the original exception, as a local run gives
                        cause = getattr(err, "cause", None)
                        if isinstance(cause, BaseException):
                            raise cause from None
                        raise
                    nxt = next(it, _END)
                    if nxt is not _END:  # refill first: the cluster works while the driver writes
                        submit(nxt)
                    yield item, result
        finally:
            self._cancel()


_END = object()
