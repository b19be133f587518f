"""TE-NAS (Chen, Gong & Wang, ICLR 2021, "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective"): the condition number of the NTK (trainability) and the number of
linear regions (expressivity), ranked and summed.

Matched to ``VITA-Group/TENAS`` ``lib/procedures/ntk.py`` (``get_ntk_n``), ``lib/procedures/
linear_region_counter.py`` (``LinearRegionCount``, ``Linear_Region_Collector``), ``prune_tenas.py``
(``prune_func_rank``: which networks, the ranking) and ``prune_launch.py`` (the NAS-Bench-201 settings),
and to the per-cell NB201 port ``cvlab-yonsei/AZ-NAS`` ``NB201/ZeroShotProxy/compute_te_nas_score.py`` +
``NB201/tss_general.ipynb`` (the protocol behind the per-cell NB201 numbers quoted for TE-NAS). The
population-level aggregate ``te_nas`` lives in :func:`bench.proxies.correlation.rank_aggregate`.

Choices (here / reference):

- NTK network: the network as given (``nasrepro correlate``: the full C=16, N=5 NB201 network) / TENAS
  prunes a C=3, N=1 supernet; the AZ-NAS port scores the full network, as here.
- NTK input: the minibatch as given (``correlate``: 64 real CIFAR training images, normalised) / TENAS's
  NB201 launch: one batch of 72 real training images; AZ-NAS port: one loader batch of 64 real images.
- NTK rows: per image i, d(sum_c logit[i, c]) / d(theta), all rows from ONE forward of the batch (train-mode
  BN couples the images) / the same (``logit[i:i+1].backward(ones_like)`` with ``retain_graph``).
- NTK parameters: every parameter whose name contains ``weight`` (conv, BN gamma, classifier; biases and BN
  beta left out), a parameter that the output does not reach skipped / the same (``'weight' in name``,
  ``W.grad is not None``).
- BN: train mode (batch statistics) / ``train_mode=True``.
- init: the network as given (PyTorch default init) / TENAS's launch passes ``--init kaiming_normal``, a
  name its ``init_model`` does not know (it knows ``kaiming_norm_fanin``/``_fanout``), so its networks keep
  PyTorch's default init; the AZ-NAS port does not re-initialise either.
- NTK value: ``lambda_max / lambda_min`` of ``J J^T``, Gram and eigenvalues in float64 / the same ratio
  from ``symeig``/``eigh`` of a float32 Gram.
- singular NTK (``lambda_min <= 0``; ``J = 0`` for a cell whose output ignores the weights): condition
  number ``inf``, score ``-inf`` (ranked lowest, dropped from a lone-proxy Spearman as every non-finite
  score) / TENAS: 0/0 = NaN, or a negative ratio that ranks best; AZ-NAS port: NaN -> 1e5.
- repeats: 1 / TENAS: 3 (same weights, a new batch each), averaged; AZ-NAS port: 1.
- LR network: for an NB201 network, TENAS's thin network: the same six cell ops with 1 channel, one cell,
  no stem, then ``lastact`` (BN + ReLU), default init drawn after ``torch.manual_seed(seed)`` in a forked
  RNG; any other network: as given / TENAS: the thin supernet (C=1, N=1, depth 1, ``use_stem=False``; ops
  pruned away are not run, so a single path is this network); the AZ-NAS port counts on the full network
  with 64 Gaussian images, where every image has its own pattern (64 on each of five NB201 cells tried).
- LR input: 3 batches of 1000 one-channel 3x3 crops (image, channel and corner drawn from a generator
  seeded with ``seed``; the same crops for every cell) of the minibatch's normalised images; other
  networks: the minibatch as given / TENAS: ``Linear_Region_Collector(input_size=(1000, 1, 3, 3),
  sample_batch=3)``: RandomCrop(3) of 3000 normalised training images, one random channel each
  (``RandChannel(1)``). Here the 3000 crops come from the 64 minibatch images.
- LR units: the output of every ``nn.ReLU`` whose input is 4-D, code = output > 0, concatenated per image /
  the same hooks (``sign`` of the ReLU output).
- LR value: the number of distinct codes among the samples (``torch.unique`` over rows) / ``calc_LR``:
  sum_i 1 / #{j: code_j = code_i} from a Hamming matrix: the same number.
- sign: ``te_nas_ntk`` = minus the condition number, ``te_nas_lr`` = the number of regions: higher =
  better for both (the registry's convention) / a lower condition number and more regions are better.
- aggregate ``te_nas``: dense rank of ``te_nas_ntk`` plus dense rank of ``te_nas_lr`` over the scored cells
  (higher = better), :func:`bench.proxies.correlation.rank_aggregate` with ``rule="sum"`` /
  ``prune_func_rank``: ranks of the condition number (ascending) and of the regions (descending), ties
  sharing one rank and the next value one more (dense), summed, the lowest sum best; the AZ-NAS notebook
  sums ``scipy.stats.rankdata`` (average) ranks instead.
"""

from __future__ import annotations

import torch
from nasrepro.bench.proxies._common import check_batch, forward_checked, scoring_mode
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn

# Linear_Region_Collector(input_size=(1000, 1, 3, 3), sample_batch=3) in prune_tenas.py
LR_BATCH = 1000
LR_BATCHES = 3
LR_CROP = 3
# the NTK Gram is accumulated over column blocks of J (float64), so J is never copied whole
_GRAM_BLOCK = 1 << 16


# ---------------------------------------------------------------------------------------------- NTK
def ntk_weights(net: nn.Module) -> list[torch.Tensor]:
    """The parameters the NTK is taken over: every parameter whose name contains ``weight``."""
    return [p for name, p in net.named_parameters() if "weight" in name]


def per_sample_jacobian(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``J[i] = d(sum_c logit[i, c]) / d(weights)`` (flattened, float32), all rows from ONE forward of the
    batch in the current mode; parameters that the output does not reach are skipped."""
    weights = ntk_weights(net)
    y = forward_checked(net, x)
    rows = []
    for i in range(y.shape[0]):
        grads = torch.autograd.grad(y[i].sum(), weights, retain_graph=i + 1 < y.shape[0], allow_unused=True)
        flat = [g.reshape(-1) for g in grads if g is not None]
        rows.append(torch.cat(flat) if flat else y.new_zeros(0))
    return torch.stack(rows).detach()


def ntk_condition_number(jac: torch.Tensor) -> float:
    """``lambda_max / lambda_min`` of ``J J^T`` (float64); ``inf`` when the NTK is singular
    (``lambda_min <= 0``, ``J = 0`` included), NaN when ``J`` holds a NaN/inf."""
    j = jac.detach().reshape(jac.shape[0], -1)
    if not bool(torch.isfinite(j).all()):
        return float("nan")
    gram = torch.zeros(j.shape[0], j.shape[0], dtype=torch.float64)
    for block in torch.split(j, _GRAM_BLOCK, dim=1):
        b = block.to(torch.float64)
        gram += b @ b.T
    eig = torch.linalg.eigvalsh(gram)  # ascending
    lo, hi = float(eig[0]), float(eig[-1])
    if lo <= 0.0:
        return float("inf")
    return hi / lo


@register_proxy("te_nas_ntk")
def te_nas_ntk(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """TE-NAS trainability: minus the condition number of the NTK ``J J^T`` of the minibatch.

    - input: the minibatch as given (``nasrepro correlate``: 64 real training images; TENAS: 72), one
      forward in BN train mode, then one backward per image (cost: batch-size backward passes);
    - J: row i = gradient of the sum of image i's logits w.r.t. every parameter named ``*weight*``;
    - init: the network as given (PyTorch default init, as TENAS's NB201 runs effectively use); 1 repeat;
    - sign: ``-lambda_max / lambda_min``, higher = better; a singular NTK gives ``-inf``, a NaN/inf
      Jacobian NaN. ``targets`` is not read (label-free).
    """
    check_batch(inputs, targets)
    with scoring_mode(net):
        jac = per_sample_jacobian(net, inputs)
    return -ntk_condition_number(jac)


# ---------------------------------------------------------------------------------------------- linear regions
def count_distinct_rows(codes: torch.Tensor) -> int:
    """Number of distinct rows of a 2-D 0/1 (or bool) tensor: the number of distinct activation patterns."""
    if codes.dim() != 2:
        raise ValueError(f"codes must be [samples, units], got shape {tuple(codes.shape)}")
    if codes.shape[1] == 0:
        return 1 if codes.shape[0] else 0
    return int(torch.unique(codes.to(torch.bool), dim=0).shape[0])


class ReluCodes:
    """Forward hooks on every ``nn.ReLU``: for a 4-D input, the output's ``> 0`` code of each image
    (the TENAS ``hook_in_forward``), concatenated over the ReLUs in call order by :meth:`take`."""

    def __init__(self, net: nn.Module) -> None:
        self.parts: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in net.modules() if isinstance(m, nn.ReLU)]

    def _hook(self, _m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        if isinstance(inp, tuple) and inp and inp[0].dim() == 4:
            self.parts.append((out.detach() > 0).reshape(out.shape[0], -1))

    def take(self, batch: int) -> torch.Tensor:
        codes = torch.cat(self.parts, 1) if self.parts else torch.zeros(batch, 0, dtype=torch.bool)
        self.parts = []
        return codes

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def thin_nb201_twin(net: nn.Module, seed: int = 0) -> nn.Module | None:
    """TENAS's thin network for an NB201 network: the same six cell ops with 1 channel, one cell, no stem,
    then ``lastact`` (BN + ReLU); PyTorch default init drawn after ``torch.manual_seed(seed)`` in a forked
    RNG (the global RNG is untouched); train mode. ``None`` for a network that is not an NB201 network.
    Pooling and classifier are left out: no ReLU follows them, so they cannot change a pattern."""
    from nasrepro.bench.nb201.network import NB201Cell, NB201Network

    if not isinstance(net, NB201Network):
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        twin = nn.Sequential(NB201Cell(net.arch_ops, 1), nn.BatchNorm2d(1), nn.ReLU(inplace=False))
    return twin.to(next(net.parameters()).device).train()


def sample_crops(images: torch.Tensor, n: int, gen: torch.Generator, size: int = LR_CROP) -> torch.Tensor:
    """``n`` crops ``[n, 1, size, size]`` of one channel of the images, drawn in this order from ``gen``:
    ``n`` image indices, ``n`` channels, ``n`` top rows, ``n`` left columns (all uniform)."""
    b, c, h, w = images.shape
    if h < size or w < size:
        raise ValueError(f"TE-NAS linear regions crop {size}x{size} patches; images are {h}x{w}")
    img = torch.randint(0, b, (n,), generator=gen)
    ch = torch.randint(0, c, (n,), generator=gen)
    top = torch.randint(0, h - size + 1, (n,), generator=gen)
    left = torch.randint(0, w - size + 1, (n,), generator=gen)
    ar = torch.arange(size)
    rows = (top[:, None] + ar)[:, :, None]
    cols = (left[:, None] + ar)[:, None, :]
    crops = images.detach()[img[:, None, None], ch[:, None, None], rows, cols]
    return crops.unsqueeze(1)


def linear_regions(net: nn.Module, batches: list[torch.Tensor]) -> int:
    """Distinct ReLU patterns of ``net`` over all images of ``batches`` (one train-mode forward per batch,
    no gradient); the caller sets the mode (see :func:`te_nas_lr`)."""
    hooks = ReluCodes(net)
    codes = []
    try:
        with torch.no_grad():
            for xb in batches:
                net(xb)
                codes.append(hooks.take(xb.shape[0]))
    finally:
        hooks.remove()
    return count_distinct_rows(torch.cat(codes, 0))


@register_proxy("te_nas_lr")
def te_nas_lr(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> float:
    """TE-NAS expressivity: the number of linear regions (distinct ReLU activation patterns) over a sample.

    - NB201 network: TENAS's thin twin (same cell ops, 1 channel, one cell, no stem, BN+ReLU ``lastact``;
      default init drawn from ``seed``), 3 batches of 1000 one-channel 3x3 crops of the minibatch's images
      (image, channel and corner drawn from a generator seeded with ``seed``: the same crops for every
      cell), BN in train mode per batch; the full network would give every image its own region;
    - any other network: the network as given (BN train mode) on the minibatch as given;
    - units: every ReLU whose input is 4-D; code = output > 0;
    - sign: higher = better (the count, as a float). ``targets`` is not read (label-free).
    """
    check_batch(inputs, targets)
    twin = thin_nb201_twin(net, seed)
    if twin is None:
        with scoring_mode(net):
            return float(linear_regions(net, [inputs]))
    gen = torch.Generator().manual_seed(int(seed))
    crops = sample_crops(inputs, LR_BATCH * LR_BATCHES, gen).to(inputs.device)
    return float(linear_regions(twin, list(torch.split(crops, LR_BATCH))))
