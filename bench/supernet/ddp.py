"""Process-group set-up for data-parallel supernet training (torchrun or an explicit rank/world).

Under ``torchrun --nproc-per-node N`` the environment holds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`from_env` reads them. The backend is ``nccl`` on CUDA and
``gloo`` on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    """The torchrun rank/world from the environment (a single process when absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init(d: Dist, device: torch.device, init_method: str | None = None) -> None:
    """Join the process group (no-op for one process or when already initialised)."""
    if not d.enabled or dist.is_initialized():
        return
    if init_method is None and "MASTER_ADDR" not in os.environ:
        raise ValueError(
            "distributed training needs MASTER_ADDR/MASTER_PORT: launch with torchrun --nproc-per-node N"
        )
    dist.init_process_group(backend_for(device), init_method=init_method, rank=d.rank, world_size=d.world)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_mean(value: float, device: torch.device) -> float:
    """Mean of a scalar over ranks (the value itself for one process)."""
    if not dist.is_initialized():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()
