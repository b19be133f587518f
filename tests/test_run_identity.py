"""A run is identified by its fully resolved settings; trajectories are byte-identical; grids stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench.runner import RunSpec, StaleRunError, load_run, run_grid, settings
from nasrepro.methods.base import _REGISTRY, register, resolve_method, resolve_wrapper
from nasrepro.methods.random_search import RandomSearch

ROOT = Path(__file__).resolve().parents[1]


class _Knob(RandomSearch):
    """Random search with a parameter whose default the test changes."""

    def __init__(self, space, rng, knob: int = 1) -> None:
        super().__init__(space, rng)
        self.knob = knob


@pytest.fixture
def knob_method():
    register("test-knob")(_Knob)
    yield "test-knob"
    _REGISTRY.pop("test-knob", None)


def test_resolved_params_hold_defaults_and_variants():
    res = resolve_method("rea")
    assert res.base == "rea" and "population_size" in res.params and "sample_size" in res.params
    var = resolve_method("ppo+critic", {"uncertainty_k": 1.0})
    assert var.base == "fnas" and var.params["critic"] is True and var.params["replay"] is False
    assert var.params["uncertainty_k"] == 1.0 and "batch_size" in var.params  # PPO's defaults, through **kwargs
    with pytest.raises(ValueError, match="no parameter 'popsize'"):
        resolve_method("rea", {"popsize": 3})


def test_changed_default_makes_old_run_stale_and_redo_stale_recomputes(tmp_path, knob_method, monkeypatch):
    specs = [RunSpec("toy", knob_method, s, "5evals") for s in range(2)]
    paths = run_grid(specs, tmp_path, progress=False)
    assert load_run(paths[0])["meta"]["params"] == {"knob": 1}
    monkeypatch.setattr(_Knob.__init__, "__defaults__", (2,))  # a new release changes the default
    with pytest.raises(StaleRunError, match=r"params\.knob: 1 in the file, 2 now"):
        run_grid(specs, tmp_path, progress=False)
    run_grid(specs, tmp_path, progress=False, redo_stale=True)
    assert load_run(paths[0])["meta"]["params"] == {"knob": 2}
    run_grid(specs, tmp_path, progress=False)  # now current: resumed, not refused


def test_changed_wrapper_is_stale(tmp_path):
    spec = RunSpec("nb201", "random", 0, "30evals", wrappers=("warmup:n=40,pool=8,proxy=params",))
    run_grid([spec], tmp_path, progress=False)
    other = RunSpec("nb201", "random", 0, "30evals", wrappers=("warmup:n=40,pool=9,proxy=params",),
                    tag=spec.label)
    with pytest.raises(StaleRunError, match="wrappers"):
        run_grid([other], tmp_path, progress=False)


def test_wrapped_run_and_variant_through_the_grid(tmp_path):
    specs = [RunSpec("nb201", "rea", 0, "40evals", wrappers=("warmup:n=100,pool=10,proxy=params",)),
             RunSpec("toy", "ppo+critic", 0, "24evals", params=(("batch_size", 4), ("min_trained", 4)))]
    p_wrap, p_var = run_grid(specs, tmp_path, progress=False)
    assert p_wrap.parent.name == "rea+warmup(n=100,pool=10,proxy=params)"
    run = load_run(p_wrap)
    assert run["meta"]["wrappers"] == [["warmup", {"n": 100, "pool": 10, "proxy": "params", "scores": None}]]
    assert run["steps"][-1]["extra"]["proxy_calls"] == 100
    var = load_run(p_var)["meta"]
    assert var["base_method"] == "fnas" and var["params"]["critic"] is True and var["params"]["replay"] is False


def test_wrapper_options_resolved_and_checked():
    assert resolve_wrapper("move:k=5") == ("move", {"k": 5, "p_best": 0.75, "proxy": "synflow", "scores": None})
    with pytest.raises(ValueError, match="no option 'nn'"):
        resolve_wrapper("warmup:nn=3")
    with pytest.raises(ValueError, match="unknown wrapper"):
        resolve_wrapper("nope:k=1")


def test_same_file_under_relative_and_absolute_path_is_the_same_run(tmp_path, monkeypatch):
    from nasrepro.bench import runner

    monkeypatch.setattr(runner, "_bench_sources", lambda spec: {})
    f = tmp_path / "table.csv"
    f.write_text("x\n1\n")
    monkeypatch.chdir(tmp_path)
    a = RunSpec("toy", "random", 0, "5evals", (("table", str(f)),))
    b = RunSpec("toy", "random", 0, "5evals", (("table", "table.csv"),))
    assert settings(a) == settings(b)
    f.write_text("x\n2\n")  # other content at the same path: another run
    assert settings(a) != settings(b.__class__("toy", "random", 0, "5evals", (("table", "other.csv"),)))


def _bytes(out: Path) -> dict[str, bytes]:
    """Each trajectory's bytes, but the meta line's ``code`` (the git commit, which moves when someone
    commits while the tests run; in CI it is one commit) is compared apart, not byte for byte."""
    out_bytes = {}
    for p in sorted(out.rglob("seed*.jsonl")):
        meta, rest = p.read_bytes().split(b"\n", 1)
        fields = json.loads(meta)
        assert set(fields.pop("code")) == {"version", "commit"}
        out_bytes[str(p.relative_to(out))] = json.dumps(fields, sort_keys=True).encode() + b"\n" + rest
    return out_bytes


def test_trajectories_byte_identical_across_worker_counts_and_processes(tmp_path):
    specs = [RunSpec("nb201", m, s, "60evals") for m in ("rea", "random", "reinforce") for s in range(3)]
    run_grid(specs, tmp_path / "one", workers=1, progress=False)
    run_grid(specs, tmp_path / "two", workers=2, progress=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "77"}
    cmd = ["run", "--bench", "nb201", "--method", "rea,random,reinforce", "--seeds", "0-2", "--budget", "60evals",
           "--workers", "2", "--out", str(tmp_path / "cli")]
    subprocess.run([sys.executable, "-m", "nasrepro.reproduce.cli", *cmd], env=env, check=True, capture_output=True)
    one = _bytes(tmp_path / "one")
    assert len(one) == 9
    assert one == _bytes(tmp_path / "two") == _bytes(tmp_path / "cli")
    meta = json.loads(next(iter(one.values())).splitlines()[0])
    assert "wall_s" not in meta and "ledger" not in meta  # timings live beside the trajectory


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["run", "--bench", "toy", "--method", "random", "--seeds", "0-999", "--budget", "20000evals",
            "--workers", "2", "--out", str(out), *extra]
    # A terminal's foreground job gets SIGINT's default action; a test suite started in the background
    # inherits SIG_IGN (POSIX), which the child would keep: restore the default as a shell would.
    return subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _wait_for_runs(out: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while len(list(out.rglob("seed*.jsonl"))) < n and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None and len(list(out.rglob("seed*.jsonl"))) >= n, "grid did not start"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process-group signals and /proc: Linux")
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_a_two_worker_grid_promptly(tmp_path, presses):
    out = tmp_path / "out"
    proc = _cli(out)
    _wait_for_runs(out, 3, proc)
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    t0 = time.time()
    if presses == 2:  # an impatient second Ctrl-C during the clean-up must not hang it
        time.sleep(0.05)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    proc.wait(timeout=20)
    assert time.time() - t0 < 10
    n_at_exit = len(list(out.rglob("seed*.jsonl")))
    assert proc.returncode == 130 and "interrupted" in proc.stderr.read() or presses == 2 and proc.returncode != 0
    time.sleep(1.0)
    assert len(list(out.rglob("seed*.jsonl"))) == n_at_exit  # nothing written after the command ended
    assert not [w for w in workers if _alive(w)]
    assert not list(out.rglob("*.tmp"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc: Linux")
def test_kill_9_of_the_driver_leaves_no_worker(tmp_path):
    out = tmp_path / "out"
    proc = _cli(out)
    _wait_for_runs(out, 3, proc)
    workers = _children(proc.pid)
    assert workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while [w for w in workers if _alive(w)] and time.time() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


def test_summary_keeps_runs_of_earlier_commands(tmp_path):
    from nasrepro.reproduce.cli import main

    out = tmp_path / "out"
    base = ["run", "--bench", "toy", "--seeds", "0-1", "--budget", "5evals", "--workers", "1", "--out", str(out)]
    assert main([*base, "--method", "random"]) == 0
    assert main([*base, "--method", "rea"]) == 0
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert sorted(set(summary["method"])) == ["random", "rea"] and len(summary) == 4
    assert np.isfinite(summary["final_test_acc"]).all()


def test_the_table_behind_nasrepro_data_is_part_of_a_runs_identity(tmp_path, monkeypatch):
    """A grid made on the shared CSV (through NASREPRO_DATA) does not 'resume' on the embedded table."""
    from nasrepro.bench import runner
    from nasrepro.bench.paths import data_dir

    shared = data_dir()
    if shared is None or not (shared / "nb201" / "nb201_accuracy.csv").exists():
        pytest.skip("needs NASREPRO_DATA with nb201/nb201_accuracy.csv")
    spec = RunSpec("nb201", "random", 0, "10evals", (("dataset", "cifar10"),))
    run_grid([spec], tmp_path, progress=False)
    monkeypatch.delenv("NASREPRO_DATA")
    runner._cached_benchmark.cache_clear()
    try:
        with pytest.raises(StaleRunError, match="data.table"):
            run_grid([spec], tmp_path, progress=False)
    finally:
        runner._cached_benchmark.cache_clear()
