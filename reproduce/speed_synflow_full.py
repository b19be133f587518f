"""``nasrepro speed synflow-full``: synflow over every NB201 cell, local process pool vs Ray, side by side.

The blog's experiment needs one proxy for all 15,625 cells (``nasrepro correlate --archs all``). This
measures that job as a user runs it: each way in a fresh process with the same workers, scoring the
cells into a fresh store on real CIFAR-10 images (the shared samples when ``NASREPRO_DATA`` is set), in
chunks, through :func:`nasrepro.reproduce.cmd_correlate.score_archs`. Ray's start-up (``ray.init`` of a
local instance) is its own row. The measurement is the scoring phase of ``nasrepro speed executors``
(same code, same CPU accounting of the whole process tree), at full size; the two ways' scores are
compared value for value.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "synflow-full"
DESCRIPTION = "synflow over all 15,625 NB201 cells: local pool vs Ray, wall and CPU seconds"
N_CELLS = 15_625


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--cells", type=int, default=N_CELLS,
                   help=f"cells scored (default all {N_CELLS:,}; fewer = a seeded sample, said in the table)")
    p.add_argument("--proxy", default="synflow", help="proxy scored")
    p.add_argument("--workers", type=int, default=2, help="pool processes, and the local Ray instance's CPUs")
    p.add_argument("--ways", default="local,ray", help="comma-separated subset of: local, ray")
    add_out_argument(p)


def report(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[str]:
    from nasrepro.reproduce._speed import machine_line, md_table

    sample = "all cells" if info["cells"] >= N_CELLS else f"a seeded sample of {info['cells']:,} of {N_CELLS:,} cells"
    lines = [f"# {info['proxy']} over NB201: local process pool vs Ray", "",
             f"Machine: {machine_line()}.", "",
             f"{sample}, CIFAR-10 minibatch of 64 real images, {info['workers']} workers per way, each way in a "
             "fresh process; CPU seconds of the whole process tree (driver, pool workers, Ray's daemons and "
             "workers). `startup` = `ray.init` of a local instance.", "",
             *md_table(rows, ["way", "phase", "tasks", "wall_s", "cpu_s", "wall_ms_per_task", "cpu_ms_per_task"]),
             ""]
    by = {(r["way"], r["phase"]): r for r in rows}
    for way in ("local", "ray"):
        if (way, "scoring") in by:
            r = by[(way, "scoring")]
            lines.append(f"- {way}: {r['tasks'] / r['wall_s']:.1f} cells/s wall, {r['cpu_ms_per_task'] / 1000:.3f} "
                         f"CPU s per cell ({r['proxy_cpu_ms_per_task'] / 1000:.3f} in {info['proxy']} itself, the "
                         "rest building the seeded network, the runner and the processes); all "
                         f"{N_CELLS:,} cells: {N_CELLS * r['wall_s'] / r['tasks'] / 60:.1f} min wall at this rate")
    if ("local", "scoring") in by and ("ray", "scoring") in by:
        a, b = by[("local", "scoring")], by[("ray", "scoring")]
        lines.append(f"- Ray / pool = **{b['wall_s'] / a['wall_s']:.2f}x** wall, {b['cpu_s'] / a['cpu_s']:.2f}x CPU "
                     "(scoring only; start-up beside it)")
    lines += [f"- outputs: {info['same_outputs']}", ""]
    return lines


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs
    from nasrepro.reproduce.speed_executors import measure
    from nasrepro.reproduce.speed_startup import _table_source

    if not 1 <= args.cells <= N_CELLS:
        raise ValueError(f"--cells must be in 1..{N_CELLS} (got {args.cells})")
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    rows, info = measure(1, "1s", args.cells, args.proxy, 1, args.workers, 1, ways, phases_wanted=("scoring",))
    info = {k: info[k] for k in ("cells", "proxy", "workers", "same_outputs")}
    lines = report(rows, info)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": _table_source()}, extra=info)
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
