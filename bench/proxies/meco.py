"""MeCo (Jiang et al., NeurIPS 2023, "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via
Minimum Eigenvalue of Correlation").

Matched to ``HamsterMimi/MeCo`` ``correlation/NAS_Bench_201.py`` (``get_score``, ``measure='meco'``,
``--batch_size 1``, ``--init_w_type none``) and ``correlation/foresight/pruners/measures/meco.py``.
"""

from __future__ import annotations

import warnings

import torch
from nasrepro.bench.proxies._common import check_batch, scoring_mode
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn


def min_corr_eigenvalue(feature: torch.Tensor) -> float:
    """Smallest eigenvalue of the Pearson correlation matrix of the rows of ``feature`` reshaped to
    ``[first dim, -1]`` (channels x positions for one image's ``[C, H, W]`` map). NaN/inf entries of the
    correlation matrix (a constant row) are set to 0 before the eigen-decomposition, as the official code
    does; the matrix is symmetric, so ``eigvalsh`` gives the real parts of ``torch.linalg.eig``."""
    rows = feature.detach().reshape(feature.shape[0], -1).to(torch.float64)
    with warnings.catch_warnings():  # one observation per row (pooled maps, logits): NaN by design
        warnings.simplefilter("ignore", UserWarning)
        corr = torch.corrcoef(rows).reshape(rows.shape[0], rows.shape[0])
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr).min())


class _MecoHooks:
    """Forward hooks on every module (the root included), as the official ``named_modules()`` loop.
    A module's output that is a tuple contributes its first element; then the first image's map."""

    def __init__(self, net: nn.Module) -> None:
        self.values: list[float] = []
        self._seen: dict[tuple, tuple[torch.Tensor, float]] = {}
        self.handles = [m.register_forward_hook(self._hook) for m in net.modules()]

    def _hook(self, _m: nn.Module, _inp: tuple, out: object) -> None:
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.dim() == 0:
            return
        fea = out[0]  # data_output[0]: the first image of the batch (a batch of 1 in the official run)
        # A wrapper (Sequential, ReLUConvBN) returns its last child's tensor: same value, computed once.
        # The key holds the version counter, so an in-place ReLU over a BN output is a new entry; the
        # cached tensor stays referenced, so its memory cannot be reused by another map meanwhile.
        key = (fea.data_ptr(), tuple(fea.shape), tuple(fea.stride()), fea._version)
        cached = self._seen.get(key)
        if cached is not None:
            self.values.append(cached[1])
            return
        value = min_corr_eigenvalue(fea) if fea.dim() > 0 else float("nan")
        self._seen[key] = (fea, value)
        self.values.append(value)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self._seen.clear()


@register_proxy("meco")
def meco(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """MeCo: sum over every module's output of the smallest eigenvalue of the channel-by-channel Pearson
    correlation matrix of the feature map (positions as observations).

    - input: ONE real image, the first of the minibatch (the official NB201 run uses ``batch_size=1``, one
      augmented training image drawn once and reused for every cell);
    - init: the network as given (PyTorch default init: ``--init_w_type none``), BN in train mode, one
      forward pass without gradients;
    - summed over: every module the forward calls (``net.named_modules()`` hooks): convs, BNs, ReLUs, op and
      cell wrappers (a wrapper repeats its last child's map, as in the official code), the classifier and
      the root; 1-D outputs (pooled features, logits) give an all-NaN matrix -> zeros -> 0; NaN/inf terms
      are dropped (``NAS_Bench_201.py``);
    - sign: higher = better.
    Known difference: the official foresight NB201 model also wraps the stem and each stage in a module,
    which repeats the stem map and the last cell map of each stage once more (4 terms); ours does not.
    """
    check_batch(inputs, targets)
    one = inputs[:1]
    with scoring_mode(net):
        hooks = _MecoHooks(net)
        try:
            with torch.no_grad():
                net(one)
        finally:
            hooks.remove()
    vals = torch.tensor(hooks.values, dtype=torch.float64)
    vals = vals[torch.isfinite(vals)]
    return float(vals.sum())
