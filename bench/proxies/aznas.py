"""AZ-NAS (Lee & Ham, CVPR 2024, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search"):
expressivity, progressivity and trainability from one forward and one backward pass, complexity = FLOPs.

Matched to ``cvlab-yonsei/AZ-NAS`` ``NB201/ZeroShotProxy/compute_az_nas_score.py`` (``compute_nas_score``,
``init_model(..., 'kaiming_norm_fanin')``), ``NB201/custom/tss_model.py`` (``extract_cell_features``: the
stem output and every cell's output, reduction blocks included) and ``NB201/tss_general.ipynb`` ('az_nas'
is not in ``real_input_metrics``: Gaussian inputs; complexity = the API's FLOPs; the rank aggregation).
The population-level aggregation lives in :func:`bench.proxies.correlation.rank_aggregate`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from nasrepro.bench.proxies._common import check_batch
from nasrepro.bench.proxies.registry import register_proxy
from nasrepro.bench.proxies.zen import reinit_copy
from torch import nn

PARTS = ("az_expressivity", "az_progressivity", "az_trainability")


def feature_modules(net: nn.Module) -> list[nn.Module]:
    """The modules whose outputs AZ-NAS scores: ``[net.stem, *net.cells]`` for the NB201 layout (the
    official ``extract_cell_features``); for any other network, every Conv2d in forward order."""
    stem, cells = getattr(net, "stem", None), getattr(net, "cells", None)
    if isinstance(stem, nn.Module) and isinstance(cells, (nn.ModuleList, nn.Sequential)):
        return [stem, *cells]
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def expressivity_of(feat: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalue spectrum of the channel covariance (positions and images as
    samples): ``-sum p log(p + 1e-8)``, ``p = s / sum s``; float64 (the official code: float32)."""
    c = feat.shape[1]
    f = feat.detach().to(torch.float64).permute(0, *range(2, feat.dim()), 1).reshape(-1, c)
    f = f - f.mean(dim=0, keepdim=True)
    sigma = f.T @ f / f.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def trainability_term(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> float:
    """``-s_max - 1/(s_max + 1e-6) + 2`` for the largest singular value of ``E[g_in g_out^T]`` with a
    Rademacher ``g_out`` pulled back through the block; ``-inf`` for an identity block (``g_in == g_out``),
    spatial down-sampling folded into channels with a pixel unshuffle, as the official code."""
    g_out = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=gen) - 0.5).mul(2).to(f_out)
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_out.shape == g_in.shape and bool(torch.equal(g_in, g_out)):
        return -math.inf
    if g_in.dim() == 4 and g_out.shape[2:] != g_in.shape[2:]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    co, ci = g_out.shape[1], g_in.shape[1]
    go = g_out.movedim(1, -1).reshape(-1, co).to(torch.float64)
    gi = g_in.movedim(1, -1).reshape(-1, ci).to(torch.float64)
    smax = float(torch.linalg.svdvals(gi.T @ go / go.shape[0]).max())
    return -smax - 1.0 / (smax + 1e-6) + 2.0


def _finite_or_neg_inf(v: float) -> float:
    return -math.inf if math.isnan(v) else float(v)


def az_parts(net: nn.Module, inputs: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """The three network-level AZ-NAS scores of one network (one forward, one backward per block pair)."""
    gen = torch.Generator().manual_seed(int(seed))
    twin = reinit_copy(net, "kaiming", gen)
    x = torch.randn(tuple(inputs.shape), generator=gen).to(inputs.device)
    feats: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: feats.append(out)) for m in feature_modules(twin)]
    try:
        with torch.enable_grad():
            twin(x)
    finally:
        for h in handles:
            h.remove()
    if len(feats) < 2:
        raise ValueError("AZ-NAS needs at least two feature maps (NB201 stem + cells, or two Conv2d layers)")
    with np.errstate(invalid="ignore"):
        expr = np.array([expressivity_of(f) for f in feats])
        progressivity = float(np.min(expr[1:] - expr[:-1]))
    with torch.enable_grad():
        terms = [trainability_term(feats[i - 1], feats[i], gen) for i in reversed(range(1, len(feats)))]
    return {
        "az_expressivity": _finite_or_neg_inf(float(np.sum(expr))),
        "az_progressivity": _finite_or_neg_inf(progressivity),
        "az_trainability": _finite_or_neg_inf(float(np.mean(terms))),
    }


_DOC = """AZ-NAS {part} (one of three parts computed together by :func:`az_parts`; registered alone it
    recomputes all three and returns its own).

    - input: Gaussian N(0, 1) images of the minibatch's shape (batch 64 in the NB201 runs); the data is
      not read; draws from a ``torch.Generator`` seeded with ``seed`` (same draws for every cell):
      first the weights, then the input, then one Rademacher ``g_out`` per block pair (last pair first);
    - init: a copy of the network, Conv2d/Linear weights Kaiming normal (fan_in, ReLU gain: N(0, 2/fan_in)),
      biases 0, BN weight 1 and bias 0; BN in train mode;
    - features: the stem output and every cell's output (NB201: 1 + 17 maps);
    - expressivity: sum over features of the eigen-spectrum entropy of the channel covariance;
      progressivity: the smallest increase of that entropy from one feature to the next;
      trainability: mean over consecutive pairs of ``-s_max - 1/s_max + 2`` (``-inf`` when a block is an
      identity, e.g. a skip-only cell); complexity: FLOPs (registered ``az_complexity`` = ``flops``);
    - sign: higher = better for every part; NaN is reported as ``-inf``, as the official code.
    """


def _register_part(name: str) -> None:
    def part(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> float:
        check_batch(inputs, targets)
        return az_parts(net, inputs, seed)[name]

    part.__name__ = name
    part.__doc__ = _DOC.format(part=name.removeprefix("az_"))
    register_proxy(name)(part)


for _name in PARTS:
    _register_part(_name)
