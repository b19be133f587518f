"""`nasrepro reproduce zc-search`: specs + analysis on the one runner; refuses without cached scores,
refuses stale runs (another proxy or scores file), resumes after kill -9 with the same tables."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nasrepro.bench.runner import StaleRunError, load_run
from nasrepro.reproduce.cli import main
from nasrepro.reproduce.repro_zc_search import add_arguments, execute, plan, variants

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--proxy", "params", "--baseline-proxy", "none", "--table", "embedded", "--datasets", "cifar10",
        "--methods", "RS,REA,BP", "--warmups", "1000", "--seeds", "0-1", "--evals", "20", "--workers", "1"]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def _scores_csv(path: Path, seed: int) -> Path:
    """A full synthetic scores.csv (all 15,625 cells) in the store's layout."""
    rng = np.random.default_rng(seed)
    pd.DataFrame({"index": np.arange(15625), "synflow": rng.random(15625), "seconds": 0.01}).to_csv(path, index=False)
    return path


def test_refuses_without_scores_and_names_the_command(capsys) -> None:  # noqa: ANN001
    assert main(["reproduce", "zc-search"]) == 2
    err = capsys.readouterr().err
    assert "nasrepro correlate" in err and "--archs all" in err and err.count("\n") == 1


def test_refuses_a_partial_scores_file(tmp_path: Path) -> None:
    pd.DataFrame({"index": [0, 1], "synflow": [1.0, 2.0]}).to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(ValueError, match="2 of 15,625 cells"):
        execute(_args(*TINY, "--proxy", "synflow", "--scores", f"cifar10={tmp_path / 'scores.csv'}",
                      "--out", str(tmp_path / "out")))


def test_bad_arguments_name_the_flag() -> None:
    for argv, flag in ((["--methods", "RS,bad"], "--methods"), (["--warmups", "x"], "--warmups"),
                       (["--baseline-proxy", "synflow"], "--baseline-proxy"), (["--datasets", "mnist"], "--datasets")):
        with pytest.raises(ValueError, match=flag):
            plan(_args("--proxy", "params", *argv))


def test_variants_are_specs_with_wrappers_as_data(tmp_path: Path) -> None:
    labels = [v.label for v in variants(("REINFORCE",), (1000, 3000, 15625))]
    assert labels == ["REINFORCE", "REINFORCE+warmup(1000)", "REINFORCE+warmup(3000)", "REINFORCE+warmup(15625)",
                      "REINFORCE+move(10)", "REINFORCE+move(100)"]
    scores = _scores_csv(tmp_path / "s.csv", 0)
    p = plan(_args("--scores", str(scores), "--datasets", "cifar10", "--methods", "RS,BP", "--warmups", "1000",
                   "--seeds", "0-1", "--evals", "30"))
    by_role = {(s.group, s.tag, s.seed): s for s in p.specs}
    w = by_role[("cifar10", "RS+warmup(1000)", 0)]
    assert w.wrappers == (f"warmup:n=1000,pool=None,proxy=synflow,scores={scores.resolve()}",) and w.method == "random"
    assert by_role[("cifar10-baseline", "RS+warmup(1000)", 1)].wrappers == ("warmup:n=1000,pool=None,proxy=params",)
    bp = by_role[("cifar10", "BP+move(10)", 0)]
    assert bp.wrappers[0].startswith("move:k=10,proxy=synflow,scores=") and dict(bp.params) == {
        "n_candidates": 15625, "retrain_every": 5}
    assert by_role[("cifar10", "BP", 0)].wrappers == () and ("cifar10-baseline", "BP", 0) not in by_role
    assert dict(w.bench_options) == {"dataset": "cifar10", "fidelity": "200"} and w.budget == "30evals"
    assert len(p.specs) == 2 * (1 + 2 * 2) * 2  # methods x (plain + 2 variants x 2 proxies) x seeds


def test_a_cached_proxy_as_the_baseline(tmp_path: Path) -> None:
    # meco vs synflow paired by seed: the baseline's wrappers read its own scores file
    main_scores, base_scores = _scores_csv(tmp_path / "m.csv", 0), _scores_csv(tmp_path / "b.csv", 0)
    p = plan(_args("--scores", str(main_scores), "--datasets", "cifar10", "--methods", "RS", "--warmups", "1000",
                   "--seeds", "0", "--evals", "30", "--baseline-proxy", "zico", "--baseline-scores",
                   f"cifar10={base_scores}"))
    by_role = {(s.group, s.tag): s for s in p.specs}
    assert by_role[("cifar10-baseline", "RS+warmup(1000)")].wrappers == (
        f"warmup:n=1000,pool=None,proxy=zico,scores={base_scores.resolve()}",)
    assert by_role[("cifar10", "RS+warmup(1000)")].wrappers[0].endswith(f"proxy=synflow,scores={main_scores.resolve()}")
    with pytest.raises(ValueError, match="--baseline-scores is not used with --baseline-proxy params"):
        plan(_args("--scores", str(main_scores), "--baseline-proxy", "params", "--baseline-scores", str(base_scores)))
    with pytest.raises(ValueError, match="--baseline-scores needs --baseline-proxy"):
        plan(_args("--scores", str(main_scores), "--baseline-proxy", "none", "--baseline-scores", str(base_scores)))


def test_small_run_writes_outputs_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "zc"
    md = execute(_args(*TINY, "--out", str(out)))
    for name in ("table.md", "table.csv", "table.tex", "runs_summary.csv", "curves_params.png"):
        assert (out / name).stat().st_size > 0
    df = pd.read_csv(out / "table.csv")
    assert set(df["variant"]) == {"RS", "RS+warmup(1000)", "RS+move(10)", "REA", "REA+warmup(1000)", "REA+move(24)",
                                  "BP", "BP+warmup(1000)", "BP+move(10)"}
    assert (df["seeds"] == 2).all()
    assert (df[df["variant"].str.contains("warmup")]["proxy calls"] == 1000).all()
    assert (df[df["variant"].str.contains("move")]["proxy calls"] > 0).all()
    per_run = pd.read_csv(out / "runs_summary.csv")
    assert per_run["test@20"].between(10, 100).all() and (per_run["oracle@20"] >= per_run["test@20"] - 1e-9).all()
    assert "does not hold" in md or "holds at" in md  # the published claims are checked
    assert "population_size=64" in md  # cited from the runs' meta, not typed
    # The curve is the test accuracy of the *incumbent*, read in the analysis from the trajectory.
    run = load_run(out / "runs" / "cifar10" / "REA" / "seed0.jsonl")
    assert run["meta"]["params"]["population_size"] == 64 and len(run["steps"]) == 20
    files = sorted((out / "runs").rglob("seed*.jsonl"))
    assert len(files) == 18
    stamp = {f: f.stat().st_mtime_ns for f in files}
    csv = (out / "table.csv").read_bytes()
    execute(_args(*TINY, "--out", str(out)))  # resumed: nothing rerun, same table
    assert stamp == {f: f.stat().st_mtime_ns for f in files}
    assert (out / "table.csv").read_bytes() == csv


def test_another_proxy_or_scores_file_is_refused_as_stale(tmp_path: Path) -> None:
    out = tmp_path / "zc"
    base = ["--datasets", "cifar10", "--methods", "RS", "--warmups", "1000", "--seeds", "0", "--evals", "10",
            "--workers", "1", "--table", "embedded", "--baseline-proxy", "none", "--out", str(out)]
    a, b = _scores_csv(tmp_path / "a.csv", 0), _scores_csv(tmp_path / "b.csv", 1)
    execute(_args("--scores", str(a), *base))
    path = out / "runs" / "cifar10" / "RS+warmup(1000)" / "seed0.jsonl"
    first = path.read_bytes()
    with pytest.raises(StaleRunError, match="redo-stale"):
        execute(_args("--scores", str(b), *base))  # another scores file: the old results are not reused
    with pytest.raises(StaleRunError, match="proxy"):
        execute(_args("--proxy", "params", *base))  # another proxy on the same path
    execute(_args("--proxy", "params", "--redo-stale", *base))
    assert load_run(path)["meta"]["wrappers"][0][1]["proxy"] == "params" and path.read_bytes() != first
    assert main(["reproduce", "zc-search", "--scores", str(a), *base]) == 2  # the CLI: one line, exit 2


def test_kill_9_and_resume_gives_the_same_tables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NASREPRO_DATA"}
    argv = [sys.executable, "-m", "nasrepro.reproduce.cli", "reproduce", "zc-search", *TINY]
    argv[argv.index("--evals") + 1] = "60"  # long enough runs to be interrupted between them
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([*argv, "--out", str(whole)], cwd=ROOT, env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*argv, "--out", str(killed)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(list(killed.rglob("seed*.jsonl"))) < 2:
        time.sleep(0.02)
    n_at_kill = len(list(killed.rglob("seed*.jsonl")))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if n_at_kill >= 18:
        pytest.skip("the grid finished before the kill (a very fast machine); nothing was interrupted")
    subprocess.run([*argv, "--out", str(killed)], cwd=ROOT, env=env, check=True, capture_output=True)
    for name in ("table.csv", "runs_summary.csv"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes()
    runs = sorted(p.relative_to(whole) for p in whole.rglob("seed*.jsonl"))
    assert runs == sorted(p.relative_to(killed) for p in killed.rglob("seed*.jsonl")) and len(runs) == 18
    for rel in runs:  # steps and final lines byte-identical (the meta line names the git commit, which may move)
        assert (whole / rel).read_bytes().split(b"\n", 1)[1] == (killed / rel).read_bytes().split(b"\n", 1)[1]


def test_demo_runs_on_the_embedded_table(tmp_path: Path) -> None:
    from nasrepro.reproduce import repro_zc_search

    text = repro_zc_search.demo(tmp_path)
    assert text.startswith("# Zero-cost warmup") and "params" in text
    assert (tmp_path / "table.md").exists() and (tmp_path / "table.csv").exists()
    assert {p.name for p in tmp_path.iterdir()} >= {"runs", "table.md", "curves_params.png"}
