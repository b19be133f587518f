"""Each zero-cost proxy alone: hand-checkable values, purity, NaN passthrough, bad input."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nasrepro.bench.proxies import available_proxies, get_proxy, register_proxy, resolve_proxies
from nasrepro.bench.proxies.jacobian import jacob_cov_score
from torch import nn

ALL = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot", "params", "flops")


def small_net(seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
        )


def batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 6, 6, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_registry_lists_all_and_rejects_unknown_and_duplicates() -> None:
    assert set(ALL) <= set(available_proxies())
    assert resolve_proxies("all")[:6] == ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov")
    assert resolve_proxies("snip, synflow,snip") == ("snip", "synflow")
    with pytest.raises(ValueError, match="unknown proxy 'nope'"):
        get_proxy("nope")
    with pytest.raises(ValueError, match="unknown proxy"):
        resolve_proxies("snip,nope")
    with pytest.raises(ValueError, match="already registered"):
        register_proxy("snip")(lambda net, x, y: 0.0)


@pytest.mark.parametrize("name", ALL)
def test_proxy_is_pure_and_returns_float(name: str) -> None:
    net = small_net()
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = batch()
    value = get_proxy(name)(net, x, y)
    assert isinstance(value, float) and math.isfinite(value)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "proxy changed weights or BN statistics"
    assert all(p.grad is None for p in net.parameters()), "proxy left gradients in .grad"
    assert not net.training, "proxy did not restore eval mode"


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_grad_norm_snip_match_manual_backward() -> None:
    net = small_net().train()
    x, y = batch()
    F.cross_entropy(net(x), y).backward()
    gn = sum(float(m.weight.grad.norm()) for m in _layers(net))
    sn = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in _layers(net))
    net.zero_grad(set_to_none=True)
    assert get_proxy("grad_norm")(net, x, y) == pytest.approx(gn, rel=1e-6)
    assert get_proxy("snip")(net, x, y) == pytest.approx(sn, rel=1e-6)


def test_snip_equals_weight_mask_gradient() -> None:
    # SNIP's definition: |dL/dm| for a mask m = 1 multiplying the weights (Lee et al. 2019)
    torch.manual_seed(0)
    lin = nn.Linear(6, 3)
    x = torch.randn(5, 6)
    y = torch.tensor([0, 1, 2, 0, 1])
    mask = torch.ones_like(lin.weight, requires_grad=True)
    loss = F.cross_entropy(F.linear(x, lin.weight.detach() * mask, lin.bias.detach()), y)
    (gm,) = torch.autograd.grad(loss, mask)
    net = nn.Sequential(nn.Unflatten(1, (6, 1, 1)), nn.Flatten(), lin)
    assert get_proxy("snip")(net, x.reshape(5, 6, 1, 1), y) == pytest.approx(float(gm.abs().sum()), rel=1e-6)


def test_synflow_by_hand_ignores_bn_and_signs() -> None:
    # Linear(2 -> 1) after BN: synflow = sum |w * dR/dw| with |w|, ones input, BN a no-op -> sum |w|.
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[-2.0, 3.0]]))
    net = nn.Sequential(nn.BatchNorm2d(2), nn.Flatten(), lin)
    x = torch.randn(4, 2, 1, 1)
    y = torch.zeros(4, dtype=torch.long)
    assert get_proxy("synflow")(net, x, y) == pytest.approx(5.0)
    assert lin.weight.dtype == torch.float32 and lin.weight[0, 0].item() == -2.0  # caller's net untouched


def _synflow_on_a_deep_copy(net: nn.Module) -> float:
    # the reference's formulation, written out: a float64 |copy| with BN forwards replaced
    twin = copy.deepcopy(net).double().train()
    for m in twin.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.forward = lambda x: x  # type: ignore[method-assign]
    with torch.no_grad():
        for t in twin.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    ws = [m.weight for m in twin.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = twin(torch.ones(1, 3, 32, 32, dtype=torch.float64))
    out = out[-1] if isinstance(out, tuple) else out
    gs = torch.autograd.grad(out.sum(), ws)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(ws, gs)))


def test_synflow_without_a_copy_equals_the_copy_and_leaves_the_net_as_found() -> None:
    from nasrepro.bench.nb201.network import build_nb201_net

    torch.manual_seed(0)
    net = build_nb201_net((3, 1, 2, 0, 3, 1), num_classes=10).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)
    assert get_proxy("synflow")(net, x, y) == _synflow_on_a_deep_copy(net)  # same float64 arithmetic
    assert not net.training
    assert not any("forward" in m.__dict__ for m in net.modules())  # the BN bypass is removed
    assert all(torch.equal(v, before[k]) and v.dtype == before[k].dtype for k, v in net.state_dict().items())
    # tied weights stay tied: one |copy|, its gradient summed over both uses
    lin = nn.Linear(3, 3, bias=False)
    tied = nn.Sequential(nn.Flatten(), lin, nn.ReLU(), lin)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2, 0], [0, 1, 0], [3, 0, -1]]))
    a = lin.weight.detach().double().abs()
    ones = torch.ones(3, dtype=torch.float64)
    w = a.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((w @ torch.relu(w @ ones)).sum(), w)
    expected = float((a * g).abs().sum())
    assert get_proxy("synflow")(tied, torch.randn(2, 3, 1, 1), torch.zeros(2, dtype=torch.long)) == pytest.approx(
        expected)


def test_naswot_kernel_matches_formula() -> None:
    net = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(12, 2))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, 2, 2, generator=g)
    c = (x.reshape(6, -1) > 0).double().numpy()
    k = c @ c.T + (1 - c) @ (1 - c).T
    assert get_proxy("naswot")(net, x, torch.zeros(6, dtype=torch.long)) == pytest.approx(np.linalg.slogdet(k)[1])


def test_jacob_cov_formula_and_nan_for_constant_rows() -> None:
    g = torch.Generator().manual_seed(1)
    j = torch.randn(5, 20, generator=g)
    corr = np.corrcoef(j.double().numpy())
    v = np.linalg.eigvalsh(corr)
    assert jacob_cov_score(j) == pytest.approx(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)))
    assert math.isnan(jacob_cov_score(torch.zeros(5, 20)))


def test_params_and_flops_by_hand() -> None:
    net = nn.Sequential(nn.Conv2d(4, 3, 1), nn.Flatten())
    x, y = torch.randn(2, 4, 1, 1), torch.zeros(2, dtype=torch.long)
    assert get_proxy("params")(net, x, y) == 4 * 3 + 3
    assert get_proxy("flops")(net, x, y) == 2 * 4 * 3  # one image, 2 FLOPs per multiply-add


def test_nan_scores_are_reported_not_replaced() -> None:
    net = small_net()
    with torch.no_grad():
        net[0].weight.fill_(float("nan"))
    x, y = batch()
    for name in ("grad_norm", "snip", "synflow", "jacob_cov"):
        assert math.isnan(get_proxy(name)(net, x, y)), name


def test_constant_output_gives_nan_jacob_cov() -> None:
    # every output is 0: the input Jacobian is 0 and its correlation matrix undefined (NaN, as in the reference)
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(72, 5))
    with torch.no_grad():
        net[2].weight.zero_()
        net[2].bias.zero_()
    x, y = batch()
    assert math.isnan(get_proxy("jacob_cov")(net, x, y))


def test_bad_inputs_give_one_line_errors() -> None:
    net = small_net()
    x, y = batch()
    with pytest.raises(ValueError, match=r"shape \[N, C, H, W\]"):
        get_proxy("snip")(net, x[:, 0], y)
    with pytest.raises(ValueError, match="do not fit the network"):
        get_proxy("snip")(net, torch.randn(8, 1, 6, 6), y)
    with pytest.raises(ValueError, match="targets"):
        get_proxy("grad_norm")(net, x, y[:3])
    with pytest.raises(ValueError, match="floating point"):
        get_proxy("grad_norm")(net, (x * 100).to(torch.uint8), y)
