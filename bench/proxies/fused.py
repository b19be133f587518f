"""Fused scoring: all requested proxies of one network with as few passes as correctness allows.

Pass plan (the reference code runs one forward+backward per proxy, two forwards for grasp, and a
copy of the network for each):

1. **One forward** of the batch (train-mode BN, input with ``requires_grad`` when jacob_cov is asked),
   with forward hooks that keep each Conv2d/Linear output (fisher) and pre-hooks on each ReLU that
   accumulate the NASWOT kernel (naswot). From that one graph:
   - one ``autograd.grad`` of the cross-entropy w.r.t. the weights and the layer outputs gives
     grad_norm, snip and fisher, and g for grasp (built with ``create_graph`` when grasp is asked);
   - grasp: one more ``autograd.grad`` of ``sum(g.detach() * g)`` gives H g (the reference needs a
     second forward for this; the graph of the first forward is the same graph);
   - jacob_cov: one ``autograd.grad`` of ``sum(logits)`` w.r.t. the input.
2. synflow needs its own pass (no BN, float64, |weights|, all-ones input of batch size 1).
3. params and flops need no gradient (flops: one forward of one image under the FLOP counter).
4. zico: its first minibatch is the shared pass's batch, so the weight gradients of step 1 are reused
   and only the second minibatch (``extra_batches``) needs a forward and backward of its own; without
   ``extra_batches`` zico splits the batch in two halves and runs alone, as the registered function.
5. AZ-NAS's three parts come from one forward/backward of a re-initialised copy (:func:`az_parts`);
   ``az_complexity`` is ``flops``; aliases (``naswot_v1`` = jacob_cov) are computed once.
6. meco (one image, hooks on every module), zen (Gaussian inputs, Gaussian re-init) and TE-NAS's two
   (te_nas_ntk: one backward per image; te_nas_lr: a thin twin of the cell) run alone.

The scores equal the one-proxy-at-a-time functions of the registry within float tolerance
(``tests/test_proxies_fused.py``).

Seeding: :func:`seeded_net` builds the network inside ``torch.random.fork_rng`` after
``torch.manual_seed(seed)``, so the initialisation depends only on ``seed`` and the caller's global
RNG state is unchanged afterwards. :func:`arch_seed` derives one seed per architecture index from a
run seed with ``numpy.random.SeedSequence([seed, index])``, so a resumed run rebuilds the same nets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from nasrepro.bench.proxies import plain
from nasrepro.bench.proxies._common import check_batch, forward_checked, scoring_mode, weighted_layers
from nasrepro.bench.proxies.aznas import PARTS as AZ_PARTS
from nasrepro.bench.proxies.aznas import az_parts
from nasrepro.bench.proxies.gradient import (
    capture_outputs,
    fisher_from,
    grad_norm_from,
    grasp_from,
    snip_from,
)
from nasrepro.bench.proxies.jacobian import NaswotKernel, jacob_cov_score
from nasrepro.bench.proxies.registry import canonical, get_proxy, resolve_proxies
from nasrepro.bench.proxies.synflow import synflow
from nasrepro.bench.proxies.zico import loss_grads, zico_from_grads
from torch import nn

# Proxies that the shared pass computes; others in the registry are called alone.
SHARED = frozenset({"grad_norm", "snip", "fisher", "grasp", "jacob_cov", "naswot"})
LOSS_GRAD = frozenset({"grad_norm", "snip", "fisher", "grasp", "zico"})


def seeded_net(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``factory()`` with PyTorch default init drawn from ``torch.manual_seed(seed)`` in a forked
    RNG context: no global random state leaks in or out."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return factory()


def arch_seed(seed: int, index: int) -> int:
    """Initialisation seed of architecture ``index`` in a run with seed ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _shared_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, want: set[str],
                 extra_batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    with scoring_mode(net):
        layers = weighted_layers(net)
        weights = [m.weight for m in layers]
        acts: list[tuple[int, torch.Tensor]] = []
        handles = capture_outputs(layers, acts) if "fisher" in want else []
        kern = NaswotKernel(net, inputs.shape[0]) if "naswot" in want else None
        need_jacob = "jacob_cov" in want
        x = inputs.detach().clone().requires_grad_(True) if need_jacob else inputs
        try:
            y = forward_checked(net, x)
        finally:
            for h in handles:
                h.remove()
            if kern is not None:
                kern.remove()
        if kern is not None:
            out["naswot"] = kern.score()
        if want & LOSS_GRAD:
            loss = F.cross_entropy(y, targets)
            act_tensors = [a for _, a in acts]
            grads = torch.autograd.grad(
                loss, weights + act_tensors, create_graph="grasp" in want, retain_graph=True, allow_unused=True
            )
            gw, ga = grads[: len(weights)], grads[len(weights):]
            if "zico" in want:
                # minibatch 1 is this pass's batch; the others get their own forward/backward
                more = [loss_grads(net, weights, xb, yb) for xb, yb in extra_batches or []]
                out["zico"] = zico_from_grads([[g.detach() if g is not None else None for g in gw], *more])
            if "grad_norm" in want:
                out["grad_norm"] = grad_norm_from(gw)
            if "snip" in want:
                out["snip"] = snip_from(weights, gw)
            if "fisher" in want:
                out["fisher"] = fisher_from(layers, acts, ga)
            if "grasp" in want:
                z = sum((g.detach() * g).sum() for g in gw if g is not None)
                if isinstance(z, torch.Tensor):
                    hg = torch.autograd.grad(z, weights, retain_graph=need_jacob, allow_unused=True)
                    out["grasp"] = grasp_from(weights, hg)
                else:
                    out["grasp"] = 0.0
            del grads, gw, ga, act_tensors
        acts.clear()
        if need_jacob:
            (jac,) = torch.autograd.grad(y.sum(), x)
            out["jacob_cov"] = jacob_cov_score(jac)
    return out


def score_all(
    net_or_factory: nn.Module | Callable[[], nn.Module],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    proxies: str | list[str] | tuple[str, ...] = "all",
    seed: int | None = None,
    extra_batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """All requested proxies of one network, fused. ``net_or_factory``: a network, or a callable
    building one (then built with :func:`seeded_net` when ``seed`` is given). ``extra_batches``: further
    minibatches for zico (its official protocol takes two); only zico reads them. NaN/inf are returned
    as they are."""
    names = resolve_proxies(proxies)
    check_batch(inputs, targets)
    if isinstance(net_or_factory, nn.Module):
        net = net_or_factory
    else:
        net = seeded_net(net_or_factory, seed) if seed is not None else net_or_factory()
    scores: dict[str, float] = {}
    wanted = {canonical(n) for n in names}
    want = wanted & SHARED
    if extra_batches and "zico" in wanted:
        want.add("zico")
    if want:
        scores.update(_shared_pass(net, inputs, targets, want, extra_batches))
    if wanted & set(AZ_PARTS):
        scores.update(az_parts(net, inputs))
    for alias in names:
        name = canonical(alias)
        if name in scores:
            continue
        if name == "synflow":
            scores[name] = synflow(net, inputs, targets)
        elif name == "params":
            scores[name] = plain.params(net, inputs, targets)
        elif name == "flops":
            scores[name] = plain.flops(net, inputs, targets)
        else:  # a proxy registered elsewhere: computed alone
            scores[name] = get_proxy(name)(net, inputs, targets)
    return {n: scores[canonical(n)] for n in names}


def score_each(
    net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, proxies: str | list[str] | tuple[str, ...] = "all"
) -> dict[str, float]:
    """The reference way: every proxy alone, with its own passes (for comparison and benchmarks)."""
    return {name: get_proxy(name)(net, inputs, targets) for name in resolve_proxies(proxies)}
