"""The speed-ups of the tabular grid ('Scale and speed') give what the code they replace gave, exactly.

Each fast path is compared with the straightforward computation it stands for: numpy's own
``Generator.integers`` draws, ``json.dumps`` lines, pandas' summary, the csv module, ``glob``.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench import draws
from nasrepro.bench.core import SearchSpace
from nasrepro.bench.io import atomic_write_jsonl
from nasrepro.bench.metrics import aggregate, aggregate_records, summarize_runs, summary_csv, summary_records
from nasrepro.bench.nb201 import space as nb201
from nasrepro.bench.nb201.tables import _plain_csv
from nasrepro.bench.runner import (
    RunSpec,
    _Chunks,
    _step_row,
    _steps_text,
    compute,
    compute_text,
    ledger_path,
    load_run,
    load_run_ends,
    remove_leftovers,
    run_grid,
)

# ---------------------------------------------------------------------------- draws


def test_randbelow_is_numpys_integers_value_and_state() -> None:
    picks = np.random.default_rng(7)
    sizes = [1, 2, 3, 4, 5, 6, 9, 10, 11, 100, 15_625, 2**31 + 11, 3_000_000_000, 2**32 - 1, 2**32, 2**40]
    for seed in range(40):
        mine, ref = np.random.default_rng(seed), np.random.default_rng(seed)
        draw = draws.sampler(mine)
        for k in range(600):
            n = sizes[int(picks.integers(len(sizes)))]
            assert draw(n) == int(ref.integers(n)), (seed, k, n)
            if k % 97 == 0:  # other calls on the generator continue where numpy's own would
                assert mine.random() == ref.random()
                assert (mine.integers(10, size=3) == ref.integers(10, size=3)).all()
        assert mine.bit_generator.state == ref.bit_generator.state


@pytest.mark.parametrize("n", [0, -3, 2.0, np.int64(5), True])
def test_randbelow_other_arguments_as_numpy(n: object) -> None:
    mine, ref = np.random.default_rng(3), np.random.default_rng(3)

    def outcome(f):  # noqa: ANN001, ANN202
        try:
            return f()
        except Exception as err:  # noqa: BLE001
            return type(err)

    assert outcome(lambda: draws.randbelow(mine, n)) == outcome(lambda: int(ref.integers(n)))
    assert mine.bit_generator.state == ref.bit_generator.state


def test_mutate_and_sample_draw_as_before() -> None:
    """NB201Space.mutate's fast path and SearchSpace.sample/mutate give the draws of the former
    ``int(rng.integers(...))`` loop."""
    space = nb201.NB201Space()

    def old_mutate(arch, rng):  # noqa: ANN001, ANN202
        while True:
            i = int(rng.integers(len(space.choices)))
            new = int(rng.integers(space.choices[i] - 1))
            new += new >= arch[i]
            child = arch[:i] + (new,) + arch[i + 1:]
            if SearchSpace.is_valid(space, child):
                return child

    for seed in range(20):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        arch = space.check(space.sample(a))
        assert arch == tuple(int(b.integers(n)) for n in space.choices)
        for _ in range(200):
            child = space.mutate(arch, a)
            assert child == old_mutate(arch, b)
            arch = space.check(child)
        assert a.bit_generator.state == b.bit_generator.state


# ---------------------------------------------------------------------------- NB201 strings


def test_cell_strings_and_indices() -> None:
    space = nb201.NB201Space()
    for i, arch in enumerate(nb201.all_archs()):
        text = nb201.to_str(arch)
        assert space.to_str(arch) == text
        assert nb201.str_to_index(text) == i
    with pytest.raises((KeyError, ValueError)):
        nb201.str_to_index("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|")


def test_plain_csv_reads_as_the_csv_module(tmp_path: Path) -> None:
    rng = random.Random(0)
    cases = ["", "\n", "a", "a,b\r\nc,d\r\n", "a,b\n\nc,d", ",\n,,\n", "é,ü\n"]
    cases += ["".join(rng.choice(["a", ",", "\n", " ", "\r\n", "\r", '"']) for _ in range(rng.randint(0, 14)))
              for _ in range(1500)]
    read = 0
    for i, text in enumerate(cases):
        path = tmp_path / f"c{i}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        got = _plain_csv(path)
        if got is not None:
            read += 1
            with open(path, newline="", encoding="utf-8") as fh:
                assert got == list(csv.reader(fh)), repr(text)
    assert read > 200  # the others (quotes, lone carriage returns) go to the csv module


# ---------------------------------------------------------------------------- trajectories


def test_compute_text_is_the_json_lines_of_compute() -> None:
    for spec in [RunSpec("nb201", "rea", 0, "12000s"), RunSpec("toy", "random", 1, "30evals"),
                 RunSpec("nb201", "reinforce", 2, "40evals"), RunSpec("toy", "rea", 3, "30evals", (("noise", 0.3),))]:
        rows, _ = compute(spec)
        text, _ = compute_text(spec)
        assert text == "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def test_step_lines_of_unusual_values_are_json_dumps() -> None:
    steps = [("a\u00e9\"x", 1.0, 2.0, 3.0, "b", 4.0, {"z": 1, "a": [1.5, None]}),
             ("a", math.nan, 2.0, 3.0, "b", 4.0, {}),
             ("a", 1.0, 2.0, math.inf, "b", -math.inf, {}),
             ("a", 1.0, 2.0, np.float64(3.25), "b", 4.0, {"x": np.float64(2.5)}),
             ("a", 1e300, 1e-300, 3.0, "b", 5e-324, {"n": math.nan, "1": True})]
    assert _steps_text(steps) == "".join(json.dumps(_step_row(k, s), sort_keys=True) + "\n"
                                         for k, s in enumerate(steps))
    for bad in [("a", 1.0, 2.0, 3.0, "b", 4.0, {"x": object()}), ("a", 1.0, 2.0, 3.0, "b", 4.0, {1: 1, "a": 2})]:
        with pytest.raises(TypeError):
            _steps_text([bad])


def test_load_run_ends_agrees_with_load_run(tmp_path: Path) -> None:
    meta, step, final = (json.dumps({"type": t}) for t in ("meta", "step", "final"))
    cases = [f"{meta}\n{step}\n{final}\n", f"{meta}\n{step}\n{final}", f"\n \n{meta}\n\n{final}\n\n", f"{meta}\n",
             "", "\n\n", f"{meta}\n{step}\n", f"{meta}\n{{bad\n", f"{{bad\n{final}\n", f"{final}\n{meta}\n"]
    for i, text in enumerate(cases):
        path = tmp_path / f"seed{i}.jsonl"
        path.write_text(text)
        try:
            full = load_run(path)
            want: object = (full["meta"], full["final"])
        except ValueError as err:
            want = str(err).split(":")[0]
        try:
            ends = load_run_ends(path)
            got: object = (ends["meta"], ends["final"])
        except ValueError as err:
            got = str(err).split(":")[0]
        assert got == want, text


# ---------------------------------------------------------------------------- summary


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    def same(x: object, y: object) -> bool:
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return x == y

    return len(a) == len(b) and all(set(r) == set(s) and all(same(r[k], s[k]) for k in r) for r, s in zip(a, b))


def _check_summary(paths: list[Path]) -> None:
    df = summarize_runs(paths)
    records, columns = summary_records(paths)
    assert summary_csv(records, columns) == df.to_csv(index=False)
    assert _same_rows(aggregate_records(records, columns), aggregate(df).to_dict("records"))


def test_summary_without_pandas_is_pandas_summary(tmp_path: Path) -> None:
    specs = [RunSpec("toy", m, s, "12evals") for m in ("rea", "random") for s in range(3)]
    _check_summary(run_grid(specs, tmp_path / "grid", workers=1, progress=False))
    rng = random.Random(1)

    def value() -> object:
        k = rng.random()
        return math.nan if k < 0.1 else float(rng.randint(-3, 3)) if k < 0.2 else rng.uniform(-1, 1) * 10 ** rng.uniform(-9, 20)

    for t in range(120):  # plain rows and irregular ones (pandas writes those)
        paths = []
        for i in range(rng.randint(1, 8)):
            final = {"n_evals": rng.randint(1, 99), "cost_s": value(), "final_arch": rng.choice(["a", "b,c"]),
                     "final_val_acc": value(), "final_test_acc": value()}
            if t % 4 == 1:
                final["final_latency_ms"] = value() if i % 2 else 3
            if t % 4 == 2 and i == 0:
                final["final_extra"] = "s"
            if t % 4 == 3:
                final["final_val_acc"] = None if i % 3 == 0 else value()
            meta = {"method": rng.choice(["rea", "a,b", 'q"x']), "dataset": rng.choice(["c10", "c100"]),
                    "seed": rng.randint(0, 4)}
            path = tmp_path / f"s{t}_{i}" / "seed0.jsonl"
            atomic_write_jsonl(path, [{"type": "meta", **meta}, {"type": "step"}, {"type": "final", **final}])
            paths.append(path)
        _check_summary(paths)


# ---------------------------------------------------------------------------- grid plumbing


def test_remove_leftovers_is_the_glob_it_replaces(tmp_path: Path) -> None:
    def by_glob(specs: list[RunSpec], out: Path) -> None:
        for spec in specs:
            path = spec.path(out)
            for name in (path.name, ledger_path(path).name):
                for tmp in path.parent.glob(f".{name}.*.tmp"):
                    tmp.unlink(missing_ok=True)

    rng = random.Random(2)
    for t in range(40):
        base = tmp_path / f"a{t}"
        specs = [RunSpec("toy", "random", s, "5evals", tag=rng.choice(["a", "c[1]", "d*"]))
                 for s in rng.sample(range(20), 6)]
        for folder in ("a", "c[1]", "d*", "e"):
            (base / folder).mkdir(parents=True)
            for _ in range(20):
                stem = rng.choice([f"seed{rng.randrange(25)}.jsonl", f"seed{rng.randrange(25)}.ledger.json", "x"])
                mid = rng.choice(["abc123", "", "a.b"])
                name = rng.choice([f".{stem}.{mid}.tmp", f".{stem}{mid}.tmp", f".{stem}.tmp", f".{stem}.{mid}.tmpx"])
                (base / folder / name).write_text("")
        copy = tmp_path / f"b{t}"
        shutil.copytree(base, copy)
        by_glob(specs, base)
        remove_leftovers(specs, copy)
        assert sorted(p.relative_to(base) for p in base.rglob("*")) == sorted(p.relative_to(copy) for p in copy.rglob("*"))


def test_chunks_grow_for_quick_runs_only() -> None:
    chunks = _Chunks(list(range(100)))
    it = iter(chunks)
    first = [next(it) for _ in range(4)]
    assert [len(c) for c in first] == [1, 1, 1, 1]  # nothing measured yet: one run per task
    for _ in range(4):
        chunks.note({"wall_s": 0.003})
    rest = list(it)
    assert {len(c) for c in rest[:-1]} == {16} and [x for c in first + rest for x in c] == list(range(100))
    slow = _Chunks(list(range(10)))
    it = iter(slow)
    next(it)
    slow.note({"wall_s": 2.0})
    assert {len(c) for c in it} == {1}


def test_run_command_builds_no_reproduction_parsers() -> None:
    from nasrepro.reproduce.cli import build_parser

    def group(parser, name):  # noqa: ANN001, ANN202
        sub = next(a for a in parser._actions if a.dest == "command")
        return next(a for a in sub.choices[name]._actions if a.dest in ("reproduction", "speed"))

    full, lazy = build_parser(), build_parser(["run", "--bench", "nb201"])
    assert group(full, "reproduce").choices and not group(lazy, "reproduce").choices
    assert group(build_parser(["reproduce", "fnas"]), "reproduce").choices
    assert group(build_parser(["--help"]), "speed").choices


def test_speed_runs_phase_table(tmp_path: Path) -> None:
    from nasrepro.reproduce.cli import main

    argv = ["speed", "runs", "--runs", "2", "--budget", "10evals", "--workers", "2", "--repeats", "1", "--ways", "now",
            "--phases", "--out", str(tmp_path)]
    assert main(argv) == 0
    md = (tmp_path / "runs.md").read_text()
    table = md.split("## Where a `now` process spends its CPU seconds", 1)[1]
    for phase in ("whole process tree", "driver process", "pool workers", "ask / check / query / tell loop",
                  "of which write_result"):
        assert phase in table
