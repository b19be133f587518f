"""``nasrepro speed query``: queries per second of the NB201 tabular benchmark vs a plain dict lookup.

Three ways over the same stream of random cells, in one process, alternated round by round:

- ``dict``: ``scores[arch]``, a dict from cell tuple to its signal value (the floor: the same data,
  nothing computed);
- ``query``: ``NB201Tabular.query(arch, rng)``, the fast path a search uses (per-cell arrays, one
  cached ``Observation`` per cell, warmed up over all cells first);
- ``reference``: ``NB201Tabular._query_reference``, the per-query computation (validation, table
  lookups, FLOPs and the cost model each time) that ``query`` did before; it checks the fast path's
  answers too.

The ratio is (seconds per query of a way) / (seconds per query of ``dict``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

NAME = "query"
DESCRIPTION = "queries/s of NB201Tabular.query vs a plain dict lookup on the same data (and the old path)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--queries", type=int, default=200_000, help="queries per round and way")
    p.add_argument("--rounds", type=int, default=5, help="rounds (ways alternate within each)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--table", default=None, help="NB201 table (default: $NASREPRO_DATA CSV, else embedded)")
    add_out_argument(p)


def measure(queries: int, rounds: int, dataset: str, table: str | None) -> tuple[list[dict[str, Any]], Any]:
    import numpy as np
    from nasrepro.bench.nb201 import space as S
    from nasrepro.bench.nb201.benchmark import make_nb201

    if queries < 1 or rounds < 1:
        raise ValueError("--queries and --rounds must be >= 1")
    bench = make_nb201(dataset, table=table)
    rng = np.random.default_rng(0)
    cells = [a for a in S.all_archs() if np.isfinite(bench._value(a, bench.signal_metric))]
    archs = [cells[i] for i in rng.integers(0, len(cells), queries).tolist()]
    scores = {a: bench._query_reference(a, rng).score for a in cells}
    for a in cells:  # warm-up: every cell's Observation exists; check it equals the reference
        if bench.query(a, rng) != bench._query_reference(a, rng):
            raise RuntimeError(f"fast and reference query differ on {S.to_str(a)}")
    # the reference path is ~100x slower: fewer queries keep a round short (rates are per query)
    n_ref = max(1, queries // 50)

    def loop_dict() -> None:
        d = scores
        for a in archs:
            d[a]

    def loop_query() -> None:
        q = bench.query
        for a in archs:
            q(a, rng)

    def loop_reference() -> None:
        q = bench._query_reference
        for a in archs[:n_ref]:
            q(a, rng)

    ways = {"dict": (loop_dict, queries), "query": (loop_query, queries), "reference": (loop_reference, n_ref)}
    wall: dict[str, float] = dict.fromkeys(ways, 0.0)
    cpu: dict[str, float] = dict.fromkeys(ways, 0.0)
    count: dict[str, int] = dict.fromkeys(ways, 0)
    order = list(ways)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            fn, n = ways[name]
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
            count[name] += n
    base_wall, base_cpu = wall["dict"] / count["dict"], max(cpu["dict"], 1e-9) / count["dict"]
    rows = []
    for name in ways:
        per_wall, per_cpu = wall[name] / count[name], max(cpu[name], 1e-9) / count[name]
        rows.append({"way": name, "queries": count[name], "wall_s": wall[name], "cpu_s": cpu[name],
                     "queries_per_s": 1 / per_wall, "queries_per_cpu_s": 1 / per_cpu,
                     "wall_ratio_vs_dict": per_wall / base_wall, "cpu_ratio_vs_dict": per_cpu / base_cpu})
    return rows, bench


def report(rows: list[dict[str, Any]], bench: Any, rounds: int) -> list[str]:
    from nasrepro.reproduce._speed import machine_line, md_table

    by = {r["way"]: r for r in rows}
    return ["# NB201 tabular query speed vs a plain dict lookup", "",
            f"Machine: {machine_line()}. One process, one thread; {rounds} rounds, the ways alternating "
            "(order reversed every round). Table: "
            f"{bench.table.source} ({bench.dataset}, signal {bench.signal_metric}).", "",
            "`dict` = `scores[arch]` on the same cells; `query` = `NB201Tabular.query` (what a search calls); "
            "`reference` = the per-query computation `query` did before (validation, table lookups, FLOPs and "
            "cost model per query), on 1/50 of the queries. Ratios: seconds per query over `dict`'s.", "",
            *md_table(rows, ["way", "queries", "wall_s", "cpu_s", "queries_per_s", "queries_per_cpu_s",
                             "wall_ratio_vs_dict", "cpu_ratio_vs_dict"]), "",
            f"`query` is **{by['query']['cpu_ratio_vs_dict']:.1f}x** a dict lookup in CPU time "
            f"({by['query']['wall_ratio_vs_dict']:.1f}x wall); the per-query computation was "
            f"{by['reference']['cpu_ratio_vs_dict']:.0f}x.", ""]


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs

    rows, bench = measure(args.queries, args.rounds, args.dataset, args.table)
    lines = report(rows, bench, args.rounds)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": {"path": bench.table.source, "sha256": bench.sources()["table"]}})
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
