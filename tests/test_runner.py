import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench.runner import Budget, RunSpec, load_run, run_grid, run_search, seed_streams
from nasrepro.bench.toy import ToyBenchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "text, evals, seconds",
    [("12000s", None, 12000.0), ("150evals", 150, None), ("150", 150, None), ("2.5s", None, 2.5), ("1eval", 1, None)],
)
def test_budget_parse(text, evals, seconds):
    b = Budget.parse(text)
    assert (b.evals, b.seconds) == (evals, seconds)


@pytest.mark.parametrize("text", ["0", "0s", "abc", "-5", "12xs", "1.5evals", ""])
def test_budget_parse_rejects(text):
    with pytest.raises(ValueError):
        Budget.parse(text)


def test_seed_streams_independent_and_reproducible():
    a1, b1 = seed_streams(3)
    a2, b2 = seed_streams(3)
    assert a1.integers(1 << 30) == a2.integers(1 << 30)
    assert b1.integers(1 << 30) == b2.integers(1 << 30)
    with pytest.raises(ValueError):
        seed_streams(-1)


def test_run_search_eval_budget_and_final_once():
    bench = ToyBenchmark(noise=0.5)
    res = run_search(bench, "random", seed=0, budget="25evals")
    assert res.n_evals == 25
    assert bench.final_calls == 1
    assert res.final["final_arch"] in {r.arch for r in res.records}
    # the incumbent is the running best of the observed scores
    best = np.maximum.accumulate([r.score for r in res.records])
    assert np.allclose(best, [r.incumbent_score for r in res.records])


def test_run_search_time_budget_keeps_crossing_eval():
    bench = ToyBenchmark()
    res = run_search(bench, "random", seed=1, budget="40s")
    costs = [r.cum_cost_s for r in res.records]
    assert costs[-1] >= 40 and costs[-2] < 40


def test_same_seed_same_trajectory_different_seed_differs():
    runs = [run_search(ToyBenchmark(noise=1.0), "random", seed=s, budget="20evals") for s in (7, 7, 8)]
    assert [r.arch for r in runs[0].records] == [r.arch for r in runs[1].records]
    assert [r.score for r in runs[0].records] == [r.score for r in runs[1].records]
    assert [r.arch for r in runs[0].records] != [r.arch for r in runs[2].records]


def test_grid_writes_complete_files_and_skips_existing(tmp_path):
    specs = [RunSpec("toy", "random", s, "10evals") for s in range(3)]
    paths = run_grid(specs, tmp_path, progress=False)
    assert [p.name for p in paths] == ["seed0.jsonl", "seed1.jsonl", "seed2.jsonl"]
    run = load_run(paths[0])
    assert run["meta"]["method"] == "random" and len(run["steps"]) == 10
    mtime = paths[0].stat().st_mtime_ns
    run_grid(specs, tmp_path, progress=False)
    assert paths[0].stat().st_mtime_ns == mtime  # not rerun


def test_load_run_rejects_truncated(tmp_path):
    p = tmp_path / "seed0.jsonl"
    p.write_text(json.dumps({"type": "meta"}) + "\n" + json.dumps({"type": "step"}) + "\n")
    with pytest.raises(ValueError, match="not a complete"):
        load_run(p)


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _steps(out: Path) -> dict[str, list]:
    return {str(p.relative_to(out)): load_run(p)["steps"] for p in sorted(out.rglob("seed*.jsonl"))}


def test_killed_grid_resumes_to_uninterrupted_result(tmp_path):
    """kill -9 a grid mid-way; rerunning gives exactly the files of an uninterrupted grid."""
    args = ["run", "--bench", "toy", "--method", "random", "--seeds", "0-59", "--budget", "3000evals",
            "--workers", "1", "--bench-opt", "noise=0.3"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    proc = _cli(*args, "--out", str(full))
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    proc = _cli(*args, "--out", str(killed))
    deadline = time.time() + 300
    while len(list(killed.rglob("seed*.jsonl"))) < 5 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(killed.rglob("seed*.jsonl")))
    assert 0 < n_before < 60, "kill did not land mid-grid"
    proc = _cli(*args, "--out", str(killed))
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert _steps(killed) == _steps(full)
    assert (killed / "summary.csv").read_text() == (full / "summary.csv").read_text()
    assert not list(killed.rglob("*.tmp"))


def test_resume_refuses_runs_made_on_another_file_at_the_same_path(tmp_path, monkeypatch):
    from nasrepro.bench import runner
    from nasrepro.bench.io import atomic_write_jsonl
    from nasrepro.bench.runner import check_existing, settings

    monkeypatch.setattr(runner, "_bench_sources", lambda spec: {})  # the fake checkpoint builds no supernet

    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"supernet trained for 1200 steps")
    spec = RunSpec("supernet", "spos-evolution", 0, "10evals", (("checkpoint", str(ckpt)),))
    atomic_write_jsonl(spec.path(tmp_path / "out"), [{"type": "meta", "settings": settings(spec)}])
    assert check_existing(spec, tmp_path / "out")  # same file: the run counts as done
    ckpt.write_bytes(b"supernet trained for 6000 steps")  # retrained in place
    with pytest.raises(ValueError, match="other settings"):
        check_existing(spec, tmp_path / "out")
