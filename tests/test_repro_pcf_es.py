"""``nasrepro reproduce pcf-es``: bad input is one line (exit 2); specs; kill -9 and resume gives the same tables."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nasrepro.bench.supernet.checkpoint import save_checkpoint
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from nasrepro.reproduce.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--random-init", "--population", "6", "--generations", "2", "--seeds", "0-1", "--cost", "flops",
        "--bn-batches", "1", "--cache-mb", "64", "--device", "cpu", "--workers", "1"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--threshold", "0"], "threshold T"),
        (["--threshold", "1.2"], "threshold T"),
        (["--sample-rate", "1.5"], "sample-rate"),
        (["--sample-rate", "0"], "sample-rate"),
        (["--monitor-size", "-1"], "monitor-size f"),
        (["--cache-mb", "lots"], "cache-mb"),
        (["--bn-batches", "0"], "bn-batches"),
        (["--population", "2"], "--population"),
        (["--workers", "0"], "--workers"),
        (["--variants", "pcf-es,bogus"], "--variants"),
    ],
)
def test_bad_arguments(extra: list[str], needle: str, tmp_path, capsys) -> None:
    assert main(["reproduce", "pcf-es", "--random-init", "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


def test_checkpoint_of_another_config(tmp_path, capsys) -> None:
    ckpt = tmp_path / "mnist.pt"
    save_checkpoint(ckpt, ShuffleNetV2OneShot("mnist-small"))
    assert main(["reproduce", "pcf-es", "--config", "cifar10-small", "--checkpoint", str(ckpt),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "mnist-small" in err and len(err.splitlines()) == 1


def test_run_supernet_non_numeric_cache(tmp_path, capsys) -> None:
    assert main(["run", "--bench", "supernet", "--config", "mnist-small", "--method", "pcf-es",
                 "--cache-mb", "abc", "--out", str(tmp_path)]) == 2
    assert "cache-mb" in capsys.readouterr().err


def test_specs_carry_every_option_as_data() -> None:
    """Variants differ only in their spec: sampling and the cache are benchmark options, the stop rule
    and the share are method parameters; all variants of a seed get the same evaluation budget."""
    from nasrepro.reproduce import repro_pcf_es as rp

    p = argparse.ArgumentParser()
    rp.add_arguments(p)
    args = p.parse_args(["--population", "10", "--generations", "3", "--seeds", "0-1", "--share", "top-k"])
    specs = rp.build_specs(args, "ckpt.pt", [0, 1], 0.4)
    by = {(s.label, s.seed): s for s in specs}
    assert {s.budget for s in specs if not s.label.startswith("check-")} == {"30evals"}
    assert dict(by[("pcf-es+is0.4", 0)].bench_options)["sample_after"] == 10
    assert dict(by[("pcf-es+is0.4", 0)].bench_options)["sample_rate"] == 0.4
    assert dict(by[("pcf-es+stop", 1)].params)["stop_when_exhausted"] is True
    assert "stop_when_exhausted" not in dict(by[("pcf-es", 1)].params)
    assert dict(by[("cf-es", 0)].params)["share_over"] == "top-k"
    assert dict(by[("check-cache4KiB", 0)].bench_options)["cache_mb"] == rp.TINY_CACHE_MB
    assert by[("check-sampling-full", 0)].budget == "20evals"
    # a subset of variants: the baseline always, each check only with the variant it checks
    args = p.parse_args(["--population", "10", "--generations", "3", "--variants", "cf-es,pcf-es"])
    labels = {s.label for s in rp.build_specs(args, "ckpt.pt", [0, 1], 0.4)}
    assert labels == {"spos-es", "cf-es", "pcf-es", "check-cache4KiB"}
    args = p.parse_args(["--population", "10", "--generations", "3", "--variants", "pcf-es", "--no-checks"])
    assert {s.label for s in rp.build_specs(args, "ckpt.pt", [0], 0.4)} == {"spos-es", "pcf-es"}


def _cli(out: Path) -> subprocess.Popen:
    # one thread: a serial grid with torch's default threads on a busy machine is many times slower
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nasrepro.reproduce.cli", "reproduce", "pcf-es", *TINY, "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def test_kill_and_resume_gives_the_same_tables(tmp_path) -> None:
    """kill -9 after some runs exist, rerun: the trajectories are byte-identical to an uninterrupted run's,
    and so are table.csv's deterministic columns (the measured time columns legitimately differ)."""
    import pandas as pd
    from nasrepro.reproduce.repro_pcf_es import MEASURED

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    proc = _cli(whole)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    proc = _cli(killed)
    while len(list((killed / "runs").rglob("seed*.jsonl"))) < 3 and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the grid finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "table.csv").exists()
    proc = _cli(killed)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""

    runs_a = sorted(p.relative_to(whole) for p in whole.rglob("seed*.jsonl"))
    runs_b = sorted(p.relative_to(killed) for p in killed.rglob("seed*.jsonl"))
    assert runs_a == runs_b and len(runs_a) == 5 * 2 + 3
    for rel in runs_a:  # steps and final lines byte for byte; the meta line names the git commit, which may move
        a, b = ((d / rel).read_bytes().split(b"\n", 1) for d in (whole, killed))
        assert a[1] == b[1], rel
        meta_a, meta_b = (json.loads(x[0]) for x in (a, b))
        assert {**meta_a, "code": None} == {**meta_b, "code": None}, rel
    a, b = (pd.read_csv(d / "table.csv") for d in (whole, killed))
    assert list(a.columns) == list(b.columns)
    keep = [c for c in a.columns if c not in MEASURED]
    pd.testing.assert_frame_equal(a[keep], b[keep])
    for name in ("generations.csv",):  # in flops cost units: deterministic too
        assert (whole / name).read_bytes() == (killed / name).read_bytes()


def test_supernet_flops_cost_and_per_image_correctness() -> None:
    """cost='flops': deterministic multiply-adds, no measured seconds in the step record; final() gives the
    per-image test correctness that the paired intervals use, consistent with test_acc."""
    import numpy as np
    import torch
    from nasrepro.bench.supernet.benchmark import make_supernet

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 1, 32, 32, generator=g), torch.randint(0, 10, (40,), generator=g)
    data = {"recal": (x[:16], y[:16]), "val": (x[16:28], y[16:28]), "test": (x[28:], y[28:])}
    bench = make_supernet(config="mnist-small", data=data, cost="flops", preload=True, bn_batch_size=8,
                          val_batch_size=6)
    arch = bench.space.sample(np.random.default_rng(0))
    obs = bench.query(arch, np.random.default_rng(0))
    assert obs.cost_kind == "simulated" and not any(k.endswith("_s") for k in obs.info)
    assert obs.cost_s == pytest.approx((16 + 12) * bench.space.table.flops(arch) / 1e9)
    assert bench.query(arch, np.random.default_rng(1)).cost_s == obs.cost_s
    fin = bench.final(arch)
    bits = fin["test_correct"]
    assert len(bits) == 12 and set(bits) <= {"0", "1"}
    assert fin["test_acc"] == pytest.approx(100 * bits.count("1") / 12)
    with pytest.raises(ValueError, match="cost"):
        make_supernet(config="mnist-small", data=data, cost="joules")
