"""FLOPs and parameter counts of supernet subnets through a per-choice lookup table.

Convention: **FLOPs here are multiply-accumulates (MACs) of convolutions and linear layers**, as the
official SPOS code counts them (``src/Search/flops.py``: conv and linear forward hooks, no BN/ReLU/pool),
so the published "323M" of the best architecture and the 330M search limit compare directly.
``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per multiply-add (and likewise only the
conv/matmul ops here), so ``spos_flops = flop_counter_flops / 2`` exactly.

The table is built once per config: each choice block is run alone under ``FlopCounterMode`` at its
input shape (batch 1), plus the stem and the head; a subnet's FLOPs is the sum of its entries.
:func:`measure_subnet_flops` counts the whole subnet for verification (tests check they agree).

Measured with this module (``python -m bench.supernet.flops``): see the report; the FLOPs limits of
the small configs are set at about the 70th percentile of uniformly sampled subnets, as the 330M
limit is for ImageNet, so the constraint removes roughly the heaviest 30% of the space.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from nasrepro.bench.supernet.configs import SupernetConfig, get_config
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from torch.utils.flop_counter import FlopCounterMode


def _count(fn) -> int:  # noqa: ANN001 - any zero-argument callable
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    # FlopCounterMode counts 2 FLOPs per multiply-add; SPOS counts MACs.
    return int(counter.get_total_flops()) // 2


def _n_params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


@dataclass(frozen=True)
class FlopsTable:
    config: str
    stem_flops: int
    head_flops: int
    block_flops: tuple[tuple[int, ...], ...]  # [block][choice], MACs
    stem_params: int
    head_params: int
    block_params: tuple[tuple[int, ...], ...]

    def flops(self, arch: Sequence[int]) -> int:
        """MACs of the subnet ``arch`` (SPOS convention)."""
        return (
            self.stem_flops + self.head_flops + sum(self.block_flops[i][int(c)] for i, c in enumerate(arch))
        )

    def flops_m(self, arch: Sequence[int]) -> float:
        return self.flops(arch) / 1e6

    def params(self, arch: Sequence[int]) -> int:
        return (
            self.stem_params
            + self.head_params
            + sum(self.block_params[i][int(c)] for i, c in enumerate(arch))
        )

    def prefix_flops(self, arch: Sequence[int], k: int) -> int:
        """MACs of the stem plus the first ``k`` blocks (what a cached prefix saves per image)."""
        return self.stem_flops + sum(self.block_flops[i][int(arch[i])] for i in range(k))

    @property
    def supernet_params(self) -> int:
        return self.stem_params + self.head_params + int(sum(sum(row) for row in self.block_params))


@functools.cache
def _table_for(name: str) -> FlopsTable:
    cfg = get_config(name)
    net = ShuffleNetV2OneShot(cfg).eval()  # the real modules, so counts match the model exactly
    x = torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size)
    with torch.no_grad():
        h = net.first_conv(x)
    stem_flops = _count(lambda: net.first_conv(x))
    block_flops, block_params = [], []
    for i in range(cfg.n_blocks):
        row_f, row_p = [], []
        for c in range(cfg.n_choices):
            block = net.features[i][c]
            row_f.append(_count(lambda b=block, h=h: b(h)))
            row_p.append(_n_params(block))
        with torch.no_grad():
            h = net.features[i][0](h)
        block_flops.append(tuple(row_f))
        block_params.append(tuple(row_p))
    head = [net.conv_last, net.classifier]

    def run_head() -> None:
        net.forward_suffix(h, (0,) * cfg.n_blocks, cfg.n_blocks)

    return FlopsTable(
        config=cfg.name,
        stem_flops=stem_flops,
        head_flops=_count(run_head),
        block_flops=tuple(block_flops),
        stem_params=_n_params(net.first_conv),
        head_params=sum(_n_params(m) for m in head),
        block_params=tuple(block_params),
    )


def flops_table(config: SupernetConfig | str) -> FlopsTable:
    """The per-choice lookup table of ``config`` (computed once per process and config)."""
    return _table_for(get_config(config).name)


def measure_subnet_flops(model: ShuffleNetV2OneShot, arch: Sequence[int]) -> int:
    """MACs of the whole subnet counted by FlopCounterMode (batch 1), for verifying the table."""
    cfg = model.config
    x = torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size)
    was_training = model.training
    model.eval()
    try:
        return _count(lambda: model(x, arch))
    finally:
        model.train(was_training)


def flops_quantiles(config: SupernetConfig | str, n: int = 20000, seed: int = 0) -> dict[str, float]:
    """Quantiles (in M MACs) of the FLOPs of ``n`` uniformly sampled subnets, and the share under the limit."""
    cfg = get_config(config)
    table = flops_table(cfg)
    rng = np.random.default_rng(seed)
    bf = np.asarray(table.block_flops, dtype=np.float64)
    archs = rng.integers(cfg.n_choices, size=(n, cfg.n_blocks))
    f = (table.stem_flops + table.head_flops + bf[np.arange(cfg.n_blocks), archs].sum(1)) / 1e6
    out = {f"q{q}": float(np.quantile(f, q / 100)) for q in (0, 10, 30, 50, 70, 90, 100)}
    out["share_valid"] = float((f <= cfg.flops_limit_m).mean())
    return out


def block_profile(config: SupernetConfig | str) -> list[dict[str, float | str]]:
    """Per part of the network (stem, each block, head): its share of a subnet's FLOPs and the
    cumulative share up to it (what freezing that prefix skips), in %, with every block's FLOPs the
    mean over its choices (the profile of an average subnet)."""
    t = flops_table(config)
    parts = [("stem", float(t.stem_flops))]
    parts += [(f"block {i}", float(np.mean(row))) for i, row in enumerate(t.block_flops)]
    parts.append(("head", float(t.head_flops)))
    total = sum(f for _, f in parts)
    cum = np.cumsum([f for _, f in parts])
    return [{"part": name, "share_pct": 100 * f / total, "prefix_pct": 100 * c / total}
            for (name, f), c in zip(parts, cum)]


def main() -> None:
    """Print and write ``results/supernet_flops.{md,csv}``: params, FLOPs distribution, best arch."""
    import pandas as pd
    from nasrepro.bench.io import atomic_write_text
    from nasrepro.bench.paths import results_dir
    from nasrepro.bench.supernet.configs import CONFIGS

    torch.set_num_threads(1)
    best = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
    rows = []
    for name, cfg in CONFIGS.items():
        t = flops_table(name)
        q = flops_quantiles(name)
        rows.append(
            {
                "config": name,
                "blocks": cfg.n_blocks,
                "supernet_params": t.supernet_params,
                "flops_limit_m": cfg.flops_limit_m,
                "share_valid_uniform": q["share_valid"],
                **{f"flops_m_{k}": v for k, v in q.items() if k != "share_valid"},
                **{f"all_{c}_flops_m": t.flops_m((c,) * cfg.n_blocks) for c in range(cfg.n_choices)},
            }
        )
    df = pd.DataFrame(rows)
    profiles = {name: block_profile(name) for name in CONFIGS}
    n_parts = max(len(p) for p in profiles.values())
    blocks = pd.DataFrame({"part": [p["part"] for p in max(profiles.values(), key=len)]})
    for name, prof in profiles.items():
        # blocks aligned by index; the head row last for every config
        share = [p["share_pct"] for p in prof[:-1]] + [np.nan] * (n_parts - len(prof)) + [prof[-1]["share_pct"]]
        prefix = [p["prefix_pct"] for p in prof[:-1]] + [np.nan] * (n_parts - len(prof)) + [prof[-1]["prefix_pct"]]
        blocks[f"{name} %"] = share
        blocks[f"{name} cum %"] = prefix
    t = flops_table("imagenet")
    lines = [
        "# Supernet FLOPs and parameters",
        "",
        "FLOPs = multiply-adds of convolutions and linear layers (the SPOS convention); torch's "
        "FlopCounterMode counts 2 per multiply-add, i.e. twice these numbers. Command: "
        "`python -m bench.supernet.flops`. Uniform quantiles from 20,000 random subnets (seed 0).",
        "",
        f"Official best architecture {best} (imagenet): **{t.flops_m(best):.2f}M** multiply-adds "
        f"({2 * t.flops(best) / 1e6:.2f}M FlopCounterMode FLOPs; published 323M), "
        f"**{t.params(best) / 1e6:.3f}M** parameters (published 3.5M). "
        f"Full ImageNet supernet (all choices): **{t.supernet_params:,}** parameters.",
        "",
        df.to_markdown(index=False, floatfmt=".4g"),
        "",
        "## Compute profile per block",
        "",
        "Share of an average subnet's FLOPs (each block: the mean over its 4 choices) in each part, and the "
        "cumulative share from the stem to that part: what a cached frozen prefix ending there skips per image. "
        "`cifar10-spos` follows the ImageNet supernet (20 blocks, channels / 4); `cifar10-small` and "
        "`mnist-small` (10 blocks) put 24-26% in the stem and block 0.",
        "",
        blocks.to_markdown(index=False, floatfmt=".1f"),
        "",
    ]
    from nasrepro.bench.provenance import markdown_block, provenance, write_sidecar

    prov = provenance()
    print("\n".join(lines))
    out = results_dir()
    atomic_write_text(out / "supernet_flops.md", "\n".join(lines) + markdown_block(prov))
    for name, frame in (("supernet_flops.csv", df), ("supernet_flops_blocks.csv", blocks)):
        atomic_write_text(out / name, frame.to_csv(index=False))
        write_sidecar(out / name, prov)


if __name__ == "__main__":
    main()
