import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nasrepro.reproduce import repro_fnas as rf
from nasrepro.reproduce.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHOSEN = {"ppo": {"lr": 0.1}, "ppo+critic": {"uncertainty_k": 1.0}, "reinforce": {"learning_rate": 0.1}}


def test_transfer_chain() -> None:
    seeds = [0, 1, 2]
    assert rf.transfer_source("cifar100", 1, seeds) == ("cifar10", 1)
    assert rf.transfer_source("imagenet16-120", 2, seeds) == ("cifar100", 2)
    # CIFAR-10 transfers from another seed's run on the same dataset
    assert rf.transfer_source("cifar10", 2, seeds) == ("cifar10", 0)
    assert rf.transfer_source("cifar10", 5, [5]) == ("cifar10", 6)


def test_grid_sources_and_tuned_settings(tmp_path: Path) -> None:
    p1, p2 = rf.grid(["cifar10", "cifar100"], [3], list(rf.VARIANTS), 50, "t.csv", tmp_path, CHOSEN)
    paths1 = {s.path(tmp_path) for s in p1}
    full = [s for s in p2 if rf.VARIANTS[s.label][2] == "full"]
    held = [s for s in p2 if rf.VARIANTS[s.label][2] == "heldout"]
    assert full and all(Path(dict(s.params)["transfer_from"]) in paths1 for s in full)
    assert held and all("sources" in dict(s.params)["transfer_from"] for s in held)
    params = {(s.label, dict(s.bench_options)["dataset"]): dict(s.params) for s in p1 + p2}
    assert params[("reinforce", "cifar10")] == {}  # the NB201 default learning rate
    assert params[("reinforce-tuned", "cifar10")] == {"learning_rate": 0.1}
    assert params[("ppo", "cifar10")] == {"lr": 0.1}
    assert params[("fnas", "cifar100")]["uncertainty_k"] == 1.0 and params[("ppo+replay", "cifar10")] == {"lr": 0.1}
    # every transfer variant is a registered variant (or the base method) plus a per-run transfer_from
    from nasrepro.methods.base import method_names

    assert all(s.method in method_names() for s in p1 + p2)


def test_tuning_specs_are_held_out_and_alike(tmp_path: Path) -> None:
    specs = rf.tuning_specs(["reinforce", "ppo"], ["cifar10"], [100, 101], 40, "t.csv")
    per_method = {}
    for s in specs:
        per_method.setdefault(s.label.split("_")[0], []).append(s)
    assert {k: len(v) for k, v in per_method.items()} == {"reinforce": 8, "ppo": 8}  # same budget each
    assert all(s.group == "tuning/cifar10" and s.seed in (100, 101) for s in specs)


def test_bad_input_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["reproduce", "fnas", "--seeds", "9-1", "--out", str(tmp_path)]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["reproduce", "fnas", "--seeds", "0-3", "--tune-seeds", "3-5", "--out", str(tmp_path)]) == 2
    assert "--tune-seeds" in capsys.readouterr().err
    assert main(["reproduce", "fnas", "--table", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "fnas", "--mode", "live", "--live-options", "[1]", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "fnas", "--mode", "live", "--live-target", "0", "--out", str(tmp_path)]) == 2


TABULAR = ["reproduce", "fnas", "--seeds", "0-1", "--tune-seeds", "100", "--datasets", "cifar100", "--cap", "60",
           "--workers", "1", "--variants", "reinforce", "reinforce-tuned", "ppo", "ppo+critic", "ppo+critic+transfer",
           "ppo+critic+transfer-heldout"]


def test_small_tabular_ablation(nb201_csv: Path, tmp_path: Path) -> None:
    assert main([*TABULAR, "--table", str(nb201_csv), "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "ablation.csv")
    assert list(df.columns) == ["variant", "dataset", "n_seeds", "median_samples_top01", "iqr_low", "iqr_high",
                                "censored", "median_samples_top1", "speedup_vs_ppo", "source_evals",
                                "median_total_top01", "source_target_spearman"]
    assert (df.n_seeds == 2).all() and len(df) == 6
    t = df.set_index("variant")
    assert t.loc["ppo", "source_evals"] == 0 and np.isnan(t.loc["ppo", "source_target_spearman"])
    assert t.loc["ppo+critic+transfer", "source_evals"] == 60
    assert 0 < t.loc["ppo+critic+transfer-heldout", "source_evals"] <= 60
    assert -1 <= t.loc["ppo+critic+transfer-heldout", "source_target_spearman"] <= 1
    # the held-out source holds none of the target's top-1% cells; the runner fingerprints that file
    truth = rf.Truth(str(nb201_csv), "cifar100")
    for f in (tmp_path / "runs" / "sources" / "cifar100").glob("*.jsonl"):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        assert rows[0]["filtered_from"]["n_steps"] == 60
        assert not {r["arch"] for r in rows[1:]} & truth.top1
    tuning = pd.read_csv(tmp_path / "tuning.csv")
    assert set(tuning.method) == {"reinforce", "ppo", "ppo+critic"}
    assert (tuning[tuning.dataset == "all"].groupby("method").chosen.sum() == 1).all()
    assert set(tuning.held_out_seeds.astype(str)) == {"100"}
    diffs = pd.read_csv(tmp_path / "ablation_differences.csv")
    assert {"median_diff", "ci_low", "ci_high", "verdict"} <= set(diffs.columns)
    assert ("ppo", "reinforce-tuned") in set(zip(diffs.variant, diffs.vs))
    md = (tmp_path / "ablation.md").read_text()
    assert "lr 0.5" not in md and "learning_rate=0.01" in md  # parameters from the runs' meta
    assert "Provenance" in md and (tmp_path / "ablation.tex").exists()
    assert (tmp_path / "ablation_curves.png").stat().st_size > 1000


def _cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_after(args: list[str], out: Path, n_files: int, pattern: str = "seed*.jsonl") -> int:
    proc = _cli([*args, "--out", str(out)])
    deadline = time.time() + 600
    while len(list(out.rglob(pattern))) < n_files and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(list(out.rglob(pattern)))


def _tables(out: Path, drop: tuple[str, ...] = ()) -> dict[str, str]:
    tables = {}
    for p in sorted(out.rglob("*.csv")):
        if "runs" in p.relative_to(out).parts:
            continue
        df = pd.read_csv(p)
        tables[str(p.relative_to(out))] = df.drop(columns=[c for c in drop if c in df]).to_csv(index=False)
    return tables


def test_tabular_kill_9_resumes_to_the_same_tables(nb201_csv: Path, tmp_path: Path) -> None:
    args = [*TABULAR, "--table", str(nb201_csv)]
    full, killed = tmp_path / "full", tmp_path / "killed"
    proc = _cli([*args, "--out", str(full)])
    assert proc.wait(timeout=900) == 0, proc.stderr.read()
    n = _kill_after(args, killed, 6)
    total = len(list(full.rglob("seed*.jsonl")))
    assert 0 < n < total, "the kill did not land mid-grid"
    proc = _cli([*args, "--out", str(killed)])
    assert proc.wait(timeout=900) == 0, proc.stderr.read()
    a, b = _tables(full), _tables(killed)
    assert a and a.keys() == b.keys()
    for name in a:  # byte for byte (the provenance sidecars are not compared)
        assert (full / name).read_bytes() == (killed / name).read_bytes(), name


LIVE = ["reproduce", "fnas", "--mode", "live", "--live-dataset", "mnist", "--live-config", "tiny",
        "--live-seeds", "0-1", "--live-rollouts", "4", "--live-batch", "2", "--live-target", "20", "--workers", "1",
        "--live-options", '{"n_train": 64, "n_val": 64, "n_test": 64, "epochs": 2}']
TIMING = ("s_per_rollout", "cpu_s_per_rollout", "seconds_to_target", "median_seconds_to_target",
          "cpu_seconds_to_target", "median_cpu_seconds_to_target")


@pytest.mark.slow
def test_live_kill_9_resumes_to_the_same_tables(tmp_path: Path) -> None:
    """The live mode (mnist stand-in, tiny): kill -9 mid-grid, rerun; the tables match an uninterrupted
    run except measured seconds. The pool arm's hit ratio is 0 in the first batch (strict fairness) and
    100% after it (similarity); the probes read the exported final pool."""
    pytest.importorskip("mlxtend")
    full, killed = tmp_path / "full", tmp_path / "killed"
    proc = _cli([*LIVE, "--out", str(full)])
    assert proc.wait(timeout=900) == 0, proc.stderr.read()
    n = _kill_after(LIVE, killed, 2)
    assert 0 < n < len(list(full.rglob("seed*.jsonl"))), "the kill did not land mid-grid"
    proc = _cli([*LIVE, "--out", str(killed)])
    assert proc.wait(timeout=900) == 0, proc.stderr.read()
    a, b = _tables(full, TIMING), _tables(killed, TIMING)
    assert set(a) == {"live/live.csv", "live/live_runs.csv", "live/live_probe.csv"} and a == b
    runs = pd.read_csv(full / "live" / "live_runs.csv")
    assert set(runs.arm) == {"ppo", "ppo+pool"} and len(runs) == 4
    assert (runs[runs.arm == "ppo+pool"].hit_ratio_after_first_batch == 1.0).all()
    from nasrepro.bench.runner import load_run

    steps = load_run(full / "runs" / "live" / "ppo+pool" / "seed0.jsonl")["steps"]
    assert [s["extra"]["init"]["pool_hit_ratio"] for s in steps] == [0.0, 0.0, 1.0, 1.0]
    probe = pd.read_csv(full / "live" / "live_probe.csv")
    assert list(probe.epoch) == [1, 2] and (probe.seeds == 2).all()
    assert "20% (given with --live-target" in (full / "live" / "live.md").read_text()


def test_demo(nb201_csv: Path, tmp_path: Path) -> None:
    text = rf.demo(tmp_path)
    assert text.count("| ppo |") == 3 and text.count("| fnas |") == 3
    assert (tmp_path / "fnas_demo.md").exists()


def test_demo_runs_without_any_data_folder(tmp_path, monkeypatch):
    """`nasrepro demo` is the main job on the embedded default: the FNAS part needs no NASREPRO_DATA."""
    from nasrepro.reproduce.repro_fnas import demo

    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    text = demo(tmp_path)
    assert "table embedded" in text and text.count("| fnas |") == 3 and text.count("| ppo |") == 3
