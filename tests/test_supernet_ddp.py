"""DDP supernet training on CPU (gloo, 2 processes) matches a single process with the same global batch.

Without SyncBatchNorm (CUDA-only in PyTorch) each rank normalises its own half-batch, so the
single-process reference runs the same global batch as 2 micro-batches (BN per micro-batch, gradients
accumulated), which is mathematically the same update; only the order of float additions differs.
Dropout is off in this comparison: DDP ranks draw their own dropout masks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from nasrepro.bench.supernet import ddp
from nasrepro.bench.supernet.checkpoint import load_checkpoint
from nasrepro.bench.supernet.train import train_supernet

sys.path.insert(0, str(Path(__file__).parent))
from test_supernet_train import TINY, settings, tiny_data  # noqa: E402

CFG = replace(TINY, dropout=0.0)
TOL = 1e-5  # absolute, on parameters of unit-scale magnitude after 3 SGD steps
S = settings(steps=4, batch_size=16, micro_batches=1, checkpoint_every=100)


def _worker(rank: int, world: int, out: str, init_file: str) -> None:
    torch.set_num_threads(1)
    try:
        train_supernet(
            CFG,
            tiny_data(),
            S,
            out,
            stop_after=3,
            dist=ddp.Dist(rank, world),
            init_method=f"file://{init_file}",
            progress=False,
        )
    finally:
        ddp.shutdown()


def _max_diff(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sb = dict(b.named_parameters())
    return max(float((p.detach() - sb[k].detach()).abs().max()) for k, p in a.named_parameters())


def test_ddp_two_cpu_processes_match_single_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, str(out), str(tmp_path / "pg_init")), nprocs=2, join=True)
    ddp_model, meta = load_checkpoint(out / "checkpoint.pt", CFG)
    assert meta["iters"] == 3 and meta["train"]["world"] == 2

    ref = train_supernet(
        CFG, tiny_data(), replace(S, micro_batches=2), None, stop_after=3, progress=False
    ).model
    plain = train_supernet(CFG, tiny_data(), S, None, stop_after=3, progress=False).model
    d_ref, d_plain = _max_diff(ddp_model, ref), _max_diff(ddp_model, plain)
    moved = _max_diff(ref, type(ref)(CFG, seed=S.seed))
    print(
        f"max |DDP - single (2 micro-batches)| = {d_ref:.2e}; vs single full-batch BN = {d_plain:.2e}; "
        f"max update = {moved:.2e}"
    )
    assert d_ref < TOL
    assert d_plain > 100 * d_ref  # the comparison can tell BN grouping apart: it is not vacuous
    # BN running statistics: DDP broadcasts rank 0's buffers, so they are rank 0's, not the mean


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun launch tested on Linux")
def test_torchrun_cli_two_processes(tmp_path: Path) -> None:
    out = tmp_path / "tr"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "nasrepro.reproduce.cli",
        "supernet",
        "train",
        "--config",
        "mnist-small",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "32",
        "--eval-archs",
        "0",
        "--device",
        "cpu",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "trained mnist-small supernet: steps 0->2" in res.stdout
    _, meta = load_checkpoint(out / "checkpoint.pt")
    assert meta["train"]["world"] == 2
