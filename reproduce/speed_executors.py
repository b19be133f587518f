"""``nasrepro speed executors``: the local process pool vs Ray (``--executor ray``), same work, same workers.

Each way runs in a fresh process (the ways alternate, repetition by repetition), which does, in order:

- ``startup`` (Ray only): ``ray.init`` of a local instance with ``--workers`` CPUs;
- ``grid``: ``run_grid`` of N REA runs on NB201 (the benchmark's default table, 12,000 s budget);
- ``scoring``: ``score_archs`` of M cells with one proxy (synflow) into a fresh store, in chunks;
- ``noop``: K tasks that return at once through the executor (after a warm-up): its own cost per task.

Wall seconds per phase, and CPU seconds of the whole process tree over the phase: this process, its
reaped children (the pool's workers) and its live descendants (a local Ray instance: GCS, raylet, the
workers), read from ``/proc``. Ray's overhead per task = its no-op wall (and CPU) per task minus the
pool's. The two ways' outputs are compared: the trajectories byte for byte, the scores value for value.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

NAME = "executors"
DESCRIPTION = "local process pool vs Ray: 200 REA runs and 500-cell synflow scoring, wall and CPU seconds"
WAYS = ("local", "ray")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--runs", type=int, default=200, help="REA runs of the grid (seeds 0..N-1)")
    p.add_argument("--budget", default="12000s", help="budget of each run (NB201's 12,000 s)")
    p.add_argument("--cells", type=int, default=500, help="NB201 cells scored (the seeded sample of correlate)")
    p.add_argument("--proxy", default="synflow", help="proxy scored")
    p.add_argument("--noop-tasks", type=int, default=1000, help="no-op tasks for the per-task overhead")
    p.add_argument("--workers", type=int, default=2, help="pool processes, and the local Ray instance's CPUs")
    p.add_argument("--repeats", type=int, default=1, help="processes per way (median reported)")
    p.add_argument("--ways", default=",".join(WAYS), help="comma-separated subset of: local, ray")
    add_out_argument(p)


# ---------------------------------------------------------------------------- the measured process


def _noop(x: Any) -> Any:
    return x


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process, its reaped children and its live descendants."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux: this process and its reaped children only
        return total
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        parent[int(d.name)] = int(fields[1])
        cpu[int(d.name)] = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    me, seen = os.getpid(), set()
    frontier = [p for p, pp in parent.items() if pp == me]
    while frontier:
        pid = frontier.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu[pid]
        frontier += [p for p, pp in parent.items() if pp == pid]
    return total


def _phase(fn: Any) -> dict[str, float]:
    import time

    t0, c0 = time.perf_counter(), tree_cpu()
    fn()
    return {"wall_s": time.perf_counter() - t0, "cpu_s": tree_cpu() - c0}


def child(way: str, runs: int, budget: str, cells: int | str, proxy: str, noop_tasks: int, workers: int,
          out: str, phases_wanted: tuple[str, ...] = ("grid", "scoring", "noop")) -> dict[str, dict[str, float]]:
    """One way's phases, in this process (``python -c``); outputs under ``out``. ``cells``: N or 'all'."""
    import logging

    from nasrepro.bench.executors import make_executor
    from nasrepro.bench.runner import RunSpec, run_grid
    from nasrepro.reproduce.cmd_correlate import parse_archs, score_archs

    phases: dict[str, dict[str, float]] = {}
    if way == "ray":
        from nasrepro.bench.ray_executor import import_ray

        ray = import_ray()
        # started once here: the executors below use this instance and leave it running
        phases["startup"] = _phase(lambda: ray.init(num_cpus=workers, include_dashboard=False,
                                                    logging_level=logging.WARNING))
    if "grid" in phases_wanted:
        specs = [RunSpec("nb201", "rea", s, budget) for s in range(runs)]
        phases["grid"] = _phase(lambda: run_grid(specs, Path(out, "grid"), workers=workers, progress=False,
                                                 executor=way))
    if "scoring" in phases_wanted:
        indices = parse_archs(str(cells), 0)
        phases["scoring"] = _phase(lambda: score_archs(indices, "cifar10", None, (proxy,), 0,
                                                       Path(out, "scores"), progress=False, workers=workers,
                                                       executor=way))
    if "noop" not in phases_wanted:
        return phases
    with make_executor(way, workers=workers) as ex:
        for _ in ex.imap_unordered(_noop, range(4 * workers)):  # warm: the pool's start is not per-task cost
            pass
        phases["noop"] = _phase(lambda: [None for _ in ex.imap_unordered(_noop, range(noop_tasks))])
    return phases


# ---------------------------------------------------------------------------- the parent


def measure(runs: int, budget: str, cells: int, proxy: str, noop_tasks: int, workers: int, repeats: int,
            ways: list[str], phases_wanted: tuple[str, ...] = ("grid", "scoring", "noop"),
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import subprocess

    from nasrepro.reproduce._speed import PY, ROOT, median, python_env

    if min(runs, cells, noop_tasks, workers, repeats) < 1:
        raise ValueError("--runs, --cells, --noop-tasks, --workers and --repeats must be >= 1")
    bad = [w for w in ways if w not in WAYS]
    if bad or not ways:
        raise ValueError(f"--ways: choose from {', '.join(WAYS)} (got {', '.join(ways) or 'nothing'})")
    if "ray" in ways:
        import importlib.util

        from nasrepro.bench.ray_executor import RAY_MISSING, MissingRayError

        if importlib.util.find_spec("ray") is None:
            raise MissingRayError(RAY_MISSING)
    from nasrepro.bench.proxies import resolve_proxies

    resolve_proxies(proxy)  # an unknown proxy fails here, in one line
    got: dict[str, list[dict[str, dict[str, float]]]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory(prefix="nasrepro-speed-executors-") as tmp:
        for k in range(repeats):
            for way in ways if k % 2 == 0 else ways[::-1]:
                out = Path(tmp, f"{way}{k}")
                call = (f"import json; from nasrepro.reproduce.speed_executors import child; print(json.dumps(child("
                        f"{way!r}, {runs}, {budget!r}, {cells}, {proxy!r}, {noop_tasks}, {workers}, {str(out)!r}, "
                        f"{tuple(phases_wanted)!r})))")
                proc = subprocess.run([PY, "-c", call], cwd=ROOT, env=python_env(), capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"the {way} measurement failed:\n{proc.stderr[-2000:]}")
                got[way].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                if "scoring" in phases_wanted:  # the proxy's own CPU seconds, from the runs' ledgers
                    got[way][-1]["scoring"]["proxy_cpu_s"] = _proxy_cpu(out)
        same = _same_outputs(Path(tmp), ways, repeats, phases_wanted)
    tasks = {"startup": 1, "grid": runs, "scoring": cells, "noop": noop_tasks}
    rows = []
    for way in ways:
        for phase in ("startup", "grid", "scoring", "noop"):
            if phase not in got[way][0]:
                continue
            wall = median([g[phase]["wall_s"] for g in got[way]])
            cpu = median([g[phase]["cpu_s"] for g in got[way]])
            row = {"way": way, "phase": phase, "tasks": tasks[phase], "workers": workers, "repeats": repeats,
                   "wall_s": wall, "cpu_s": cpu, "wall_ms_per_task": 1000 * wall / tasks[phase],
                   "cpu_ms_per_task": 1000 * cpu / tasks[phase]}
            if phase == "scoring":
                row["proxy_cpu_ms_per_task"] = 1000 * median([g[phase]["proxy_cpu_s"] for g in got[way]]) / cells
            rows.append(row)
    info = {"runs": runs, "budget": budget, "cells": cells, "proxy": proxy, "noop_tasks": noop_tasks,
            "workers": workers, "repeats": repeats, "same_outputs": same}
    return rows, info


def _proxy_cpu(out: Path) -> float:
    """CPU seconds of the proxy computations themselves (each cell's, as its run's ledger measured it)."""
    from nasrepro.bench.proxies.store import read_scores

    _, frame = read_scores(out / "scores" / "scores.csv")
    return float(frame["cpu_seconds"].sum())


def _same_outputs(tmp: Path, ways: list[str], repeats: int,
                  phases_wanted: tuple[str, ...] = ("grid", "scoring", "noop")) -> str:
    """Whether every process wrote the same trajectories (bytes) and scores (values)."""
    from nasrepro.bench.proxies.store import read_scores

    dirs = [tmp / f"{w}{k}" for w in ways for k in range(repeats)]
    if len(dirs) < 2:
        return "one process: nothing to compare"

    def grid(d: Path, drop_commit: bool = False, sub: str = "grid") -> dict[str, bytes]:
        files = {str(p.relative_to(d)): p.read_bytes() for p in sorted((d / sub).rglob("seed*.jsonl"))}
        if drop_commit:
            files = {k: re.sub(rb'"commit": "[^"]*"', b'"commit": ""', v, count=1) for k, v in files.items()}
        return files

    def commits(d: Path, sub: str = "grid") -> set[str]:
        return {m.decode() for p in (d / sub).rglob("seed*.jsonl")
                for m in re.findall(rb'"commit": "([^"]*)"', p.read_bytes().split(b"\n", 1)[0])}

    def scores(d: Path) -> Any:
        _, frame = read_scores(d / "scores" / "scores.csv")
        return frame.drop(columns=["seconds", "cpu_seconds"]).sort_values("index").reset_index(drop=True)

    s0 = scores(dirs[0])
    ok_scores = all(scores(d).equals(s0) for d in dirs[1:])
    # the scoring runs themselves (one per chunk of cells), byte for byte but for the commit each recorded
    r0 = grid(dirs[0], True, "scores/runs")
    ok_runs = all(grid(d, True, "scores/runs") == r0 for d in dirs[1:])
    scored = (f"scores {'identical' if ok_scores else 'DIFFER'} ({len(s0)} cells x {len(dirs)} processes; "
              f"their {len(r0)} scoring runs {'byte-identical, the recorded commit aside' if ok_runs else 'DIFFER'})")
    if "grid" not in phases_wanted:
        return scored
    g0 = grid(dirs[0])
    if all(grid(d) == g0 for d in dirs[1:]):
        same = "byte-identical"
    elif all(grid(d, True) == grid(dirs[0], True) for d in dirs[1:]):
        # a shared checkout whose HEAD moved between the processes: the meta line records the commit
        shown = ", ".join(sorted(set().union(*map(commits, dirs))))
        same = f"byte-identical except the git commit each process recorded ({shown})"
    else:
        same = "DIFFER"
    return f"trajectories {same} ({len(g0)} files x {len(dirs)} processes), {scored}"


def report(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    from nasrepro.reproduce._speed import machine_line, md_table

    lines = ["# Executors: local process pool vs Ray", "",
             f"Machine: {machine_line()}.", "",
             f"Each way in a fresh process with {info['workers']} workers (the pool's processes; the local Ray "
             f"instance's CPUs), {info['repeats']} process(es) per way (median): `grid` = {info['runs']} REA runs "
             f"on NB201 ({info['budget']} budget, one task each), `scoring` = {info['cells']} cells with "
             f"{info['proxy']} (tasks are chunks of cells; per-task columns are per cell), `noop` = "
             f"{info['noop_tasks']} tasks that return at once (warm executor), `startup` = `ray.init`. CPU seconds are those of "
             "the whole process tree (driver, pool workers, Ray's daemons and workers).", "",
             *md_table(rows, ["way", "phase", "tasks", "wall_s", "cpu_s", "wall_ms_per_task", "cpu_ms_per_task"]),
             ""]
    by = {(r["way"], r["phase"]): r for r in rows}
    if ("local", "grid") in by and ("ray", "grid") in by:
        for phase in ("grid", "scoring"):
            a, b = by[("local", phase)], by[("ray", phase)]
            lines.append(f"- {phase}: Ray / pool = **{b['wall_s'] / a['wall_s']:.2f}x** wall, "
                         f"{b['cpu_s'] / a['cpu_s']:.2f}x CPU")
        a, b = by[("local", "noop")], by[("ray", "noop")]
        lines.append(f"- Ray's overhead per task (no-op, minus the pool's): "
                     f"{b['wall_ms_per_task'] - a['wall_ms_per_task']:.2f} ms wall, "
                     f"{b['cpu_ms_per_task'] - a['cpu_ms_per_task']:.2f} ms CPU; start-up "
                     f"{by[('ray', 'startup')]['wall_s']:.1f} s wall, {by[('ray', 'startup')]['cpu_s']:.1f} s CPU")
    lines += [f"- outputs: {info['same_outputs']}", ""]
    return lines


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs
    from nasrepro.reproduce.speed_startup import _table_source

    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    rows, info = measure(args.runs, args.budget, args.cells, args.proxy, args.noop_tasks, args.workers,
                         args.repeats, ways)
    lines = report(rows, info)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": _table_source()}, extra=info)
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
