"""Input-Jacobian and activation-pattern proxies.

- jacob_cov (Mellor et al. 2020 v1, as in zero-cost-nas): J = d(sum of logits)/d(input) per image,
  C = corrcoef(J rows); score = -sum(log(v + k) + 1/(v + k)) over eigenvalues v of C, k = 1e-5.
  The reference uses ``np.linalg.eig``; C is symmetric so we use ``eigvalsh`` (same values, real).
  A failure (e.g. a constant Jacobian row making C NaN) is NaN, as in the reference.
- naswot (Mellor et al., ICML 2021): for every ReLU, the binary code c = (pre-activation > 0) of each
  image; K = sum over ReLUs of c c^T + (1-c)(1-c)^T; score = log|det K| (``slogdet``).
"""

from __future__ import annotations

import numpy as np
import torch
from nasrepro.bench.proxies._common import check_batch, forward_checked, scoring_mode
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn


def jacob_cov_score(jacob: torch.Tensor) -> float:
    j = jacob.detach().reshape(jacob.shape[0], -1).to(torch.float64).cpu().numpy()
    with np.errstate(all="ignore"):
        corrs = np.corrcoef(j)
        if not np.all(np.isfinite(corrs)):
            return float("nan")
        try:
            v = np.linalg.eigvalsh(corrs)
        except np.linalg.LinAlgError:
            return float("nan")
        k = 1e-5
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


class NaswotKernel:
    """Forward pre-hooks on every ``nn.ReLU`` accumulating the binary-code kernel K."""

    def __init__(self, net: nn.Module, batch: int) -> None:
        self.K = torch.zeros(batch, batch, dtype=torch.float64)
        self.handles = [m.register_forward_pre_hook(self._hook) for m in net.modules() if isinstance(m, nn.ReLU)]

    def _hook(self, _m: nn.Module, inp: tuple) -> None:
        x = inp[0].detach()
        codes = (x.reshape(x.shape[0], -1) > 0).to(torch.float32)
        # c c^T + (1-c)(1-c)^T = 2 c c^T - r 1^T - 1 r^T + D (r: row sums, D: units): one matrix
        # product instead of two. Integer values below 2^24 are exact in float32, so this equals the
        # two-product form exactly; K accumulates in float64.
        cc = (codes @ codes.T).to(torch.float64)
        r = cc.diagonal().clone()  # c_i . c_i = number of active units of image i
        self.K += 2.0 * cc - r[:, None] - r[None, :] + float(codes.shape[1])

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def score(self) -> float:
        if not self.handles:
            return float("nan")  # no ReLU: the proxy is undefined for this network
        _sign, logdet = torch.linalg.slogdet(self.K)
        return float(logdet.item())


@register_proxy("jacob_cov")
def jacob_cov(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        x = inputs.detach().clone().requires_grad_(True)
        y = forward_checked(net, x)
        # y.backward(ones_like(y)) in the reference == gradient of the sum
        (jac,) = torch.autograd.grad(y.sum(), x)
        return jacob_cov_score(jac)


@register_proxy("naswot")
def naswot(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        kern = NaswotKernel(net, inputs.shape[0])
        try:
            with torch.no_grad():
                forward_checked(net, inputs)
        finally:
            kern.remove()
        return kern.score()
