"""TE-NAS (NTK condition number, linear regions, their rank sum): each against a closed form or an
independent computation on a fixed tiny network, sanity on an NB201 cell, and the population aggregate."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from nasrepro.bench.proxies import get_proxy, resolve_proxies, score_all, seeded_net
from nasrepro.bench.proxies.correlation import correlation_table, rank_aggregate
from nasrepro.bench.proxies.tenas import (
    LR_BATCH,
    LR_BATCHES,
    count_distinct_rows,
    ntk_condition_number,
    ntk_weights,
    per_sample_jacobian,
)
from torch import nn

ARCH = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
DEAD_OUTPUT = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"


def nb201_small(arch: str = ARCH, seed: int = 3) -> nn.Module:
    from nasrepro.bench.nb201.network import build_nb201_net

    return seeded_net(lambda: build_nb201_net(arch, num_classes=4, C=4, N=1), seed)


def images(n: int = 8, hw: int = 8, classes: int = 4, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, hw, hw, generator=g), torch.randint(0, classes, (n,), generator=g)


def _cond(gram: np.ndarray) -> float:
    v = np.linalg.eigvalsh(gram)
    return float(v[-1] / v[0])


# ---------------------------------------------------------------------------------------------- NTK
def test_ntk_of_a_linear_model_is_classes_times_gram_of_inputs() -> None:
    # logits_i = W x_i + b; d(sum_c logit_ic)/dW = 1_c x_i^T (the bias is not a "weight"), so
    # J_i . J_j = C x_i . x_j and NTK = C X X^T: its condition number is that of X X^T
    w = np.array([[0.5, -1.0, 0.2, 0.0, 0.3, 0.1], [0.3, 0.1, -0.4, 0.8, -0.2, 0.6], [-0.6, 0.7, 0.9, -0.2, 0.4, 0.0]])
    lin = nn.Linear(6, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
        lin.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    net = nn.Sequential(nn.Flatten(), lin)
    x = torch.tensor([[1.0, 0.0, 2.0, -1.0, 0.5, 0.0], [0.0, 1.0, -1.0, 0.0, 2.0, 1.0],
                      [1.0, 1.0, 0.0, 3.0, 0.0, -1.0], [-2.0, 0.5, 1.0, 1.0, 1.0, 1.0]])
    xn = x.double().numpy()
    expected = -_cond(3 * xn @ xn.T)
    got = get_proxy("te_nas_ntk")(net, x.reshape(4, 6, 1, 1), torch.zeros(4, dtype=torch.long))
    assert got == pytest.approx(expected, rel=1e-5)
    assert [tuple(p.shape) for p in ntk_weights(net)] == [(3, 6)]  # the bias is left out, as 'weight' in name


def test_ntk_rows_with_batchnorm_match_jacrev_of_the_batch() -> None:
    # train-mode BN couples the images: row i is the gradient of image i's logit sum through ONE batch
    # forward. Independent computation: torch.func.jacrev of the batch's per-image logit sums.
    # (no running statistics: the functional transform may not update buffers; train mode uses batch
    # statistics either way)
    net = seeded_net(lambda: nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.BatchNorm2d(3, track_running_stats=False),
                                           nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)), 1)
    x, y = images(5, 2, seed=2)
    x = x[:, :2]
    twin = copy.deepcopy(net).train()
    names = [n for n, _ in twin.named_parameters() if "weight" in n]
    fixed = {n: p.detach() for n, p in twin.named_parameters() if "weight" not in n}

    def sums(weights: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.func.functional_call(twin, {**fixed, **weights}, (x,)).sum(1)

    jac = torch.func.jacrev(sums)({n: p.detach() for n, p in twin.named_parameters() if n in names})
    j_ref = torch.cat([jac[n].reshape(5, -1) for n in names], 1).double().numpy()
    net.train()
    j = per_sample_jacobian(net, x).double().numpy()
    assert np.allclose(j, j_ref, rtol=1e-5, atol=1e-6)
    # gradients of BN gamma are in; BN beta and the classifier bias are not
    assert j.shape[1] == 3 * 2 + 3 + 4 * 12
    expected = -_cond(j_ref @ j_ref.T)
    assert get_proxy("te_nas_ntk")(net, x, y) == pytest.approx(expected, rel=1e-4)


def test_singular_and_nan_ntk() -> None:
    assert ntk_condition_number(torch.zeros(4, 10)) == math.inf  # J = 0: every eigenvalue 0
    assert ntk_condition_number(torch.ones(3, 5)) > 1e10  # rank 1: inf, or a round-off-sized lambda_min
    assert math.isnan(ntk_condition_number(torch.tensor([[1.0, float("nan")], [0.0, 1.0]])))
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 3))
    x = torch.zeros(4, 6, 1, 1)  # d logits / dW = 1 x^T = 0
    assert get_proxy("te_nas_ntk")(net, x, torch.zeros(4, dtype=torch.long)) == -math.inf
    assert ntk_condition_number(torch.tensor([[2.0, 0.0], [0.0, 1.0]])) == pytest.approx(4.0)  # diag(4, 1)


# ---------------------------------------------------------------------------------------------- linear regions
def test_distinct_rows_equal_the_reference_hamming_formula() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, (7, 12))
    codes = base[rng.integers(0, 7, 40)]  # 40 samples drawn from at most 7 patterns
    # TENAS calc_LR: the Hamming matrix A(1-B)^T + (1-A)B^T is 0 exactly for equal codes;
    # sum over samples of 1 / (number of samples with the same code)
    ham = codes @ (1 - codes).T
    ham = ham + ham.T
    same = (ham == 0).sum(1)
    assert count_distinct_rows(torch.tensor(codes)) == round(float(np.sum(1.0 / same)))
    assert count_distinct_rows(torch.tensor(codes)) == len({tuple(r) for r in codes})
    assert count_distinct_rows(torch.zeros(5, 0)) == 1  # no ReLU: one linear region


def test_linear_regions_of_a_tiny_relu_net_known_by_construction() -> None:
    # ReLU on the 1x1x2 input, then a conv with weight -1 and a ReLU that is always 0: the pattern is the
    # sign pattern of the input, so the regions are the quadrants the inputs fall in (3 here)
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(-1.0)
    net = nn.Sequential(nn.ReLU(), conv, nn.ReLU())
    pts = [(1.0, 2.0), (0.5, 0.1), (3.0, -1.0), (2.0, -0.5), (-1.0, -1.0), (-0.2, -3.0), (0.7, 0.7)]
    x = torch.tensor(pts).reshape(len(pts), 1, 1, 2)
    assert get_proxy("te_nas_lr")(net, x, torch.zeros(len(pts), dtype=torch.long)) == 3.0
    # a ReLU on a flattened (2-D) input is not counted: no 4-D ReLU, one region
    flat = nn.Sequential(nn.Flatten(), nn.ReLU())
    assert get_proxy("te_nas_lr")(flat, x, torch.zeros(len(pts), dtype=torch.long)) == 1.0


def _crops(x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """The documented draws (image, channel, top, left; 3000 each), gathered with plain loops."""
    n = LR_BATCH * LR_BATCHES
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, x.shape[0], (n,), generator=g)
    ch = torch.randint(0, x.shape[1], (n,), generator=g)
    top = torch.randint(0, x.shape[2] - 2, (n,), generator=g)
    left = torch.randint(0, x.shape[3] - 2, (n,), generator=g)
    xn = x.double().numpy()
    return np.stack([xn[i, c, t:t + 3, s:s + 3].ravel() for i, c, t, s in zip(img, ch, top, left)])


def test_linear_regions_of_the_thin_all_skip_cell_by_hand() -> None:
    # thin twin of an all-skip cell: node3 = 4x, lastact = ReLU(BN(4x)) with per-batch statistics over the
    # 1000 crops x 9 positions; code = x > batch mean (gamma 1, beta 0). Only the lastact ReLU exists.
    x, y = images(16, 8)
    crops = _crops(x)
    codes = np.concatenate([b > b.mean() for b in np.split(crops, LR_BATCHES)])
    expected = len({tuple(r) for r in codes})
    assert 1 < expected <= 2**9
    assert get_proxy("te_nas_lr")(nb201_small(ALL_SKIP), x, y) == float(expected)


def test_linear_regions_of_the_thin_cell_with_a_dead_output_by_hand() -> None:
    # node1 = conv1x1(ReLU(x)), nodes 2 and 3 are 0: the op's ReLU gives code x > 0 on the 9 positions and
    # the lastact ReLU sees BN(0) = 0 (code 0 everywhere)
    x, y = images(16, 8, seed=9)
    crops = _crops(x)
    expected = len({tuple(r) for r in crops > 0})
    assert get_proxy("te_nas_lr")(nb201_small(DEAD_OUTPUT), x, y) == float(expected)


def test_linear_regions_depend_on_the_cell_not_on_the_given_weights() -> None:
    x, y = images(8)
    a = get_proxy("te_nas_lr")(nb201_small(ARCH, seed=1), x, y)
    assert a == get_proxy("te_nas_lr")(nb201_small(ARCH, seed=2), x, y)  # the thin twin has its own init
    assert a > get_proxy("te_nas_lr")(nb201_small(ALL_SKIP), x, y)  # more ReLUs, more regions
    with pytest.raises(ValueError, match="3x3"):
        get_proxy("te_nas_lr")(nb201_small(), torch.randn(4, 3, 2, 2), torch.zeros(4, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- NB201 sanity
@pytest.mark.parametrize("name", ["te_nas_ntk", "te_nas_lr"])
def test_tenas_on_nb201_cell_is_finite_pure_and_deterministic(name: str) -> None:
    net = nb201_small().eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = images(8)
    a = get_proxy(name)(net, x, y)
    b = get_proxy(name)(net, x, y)
    assert isinstance(a, float) and math.isfinite(a) and a == b, (name, a, b)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "proxy changed the network"
    assert all(p.grad is None for p in net.parameters()) and not net.training
    if name == "te_nas_ntk":
        assert a <= -1.0  # minus a condition number
    else:
        assert 1.0 <= a <= LR_BATCH * LR_BATCHES


def test_dead_cell_gets_minus_inf_ntk_and_fused_equals_alone() -> None:
    x, y = images(8)
    assert get_proxy("te_nas_ntk")(nb201_small(DEAD_OUTPUT), x, y) == -math.inf  # constant logits: J = 0
    net = nb201_small()
    fused = score_all(net, x, y, "te_nas,synflow")
    assert list(fused) == ["te_nas_ntk", "te_nas_lr", "synflow"]
    assert fused["te_nas_ntk"] == get_proxy("te_nas_ntk")(net, x, y)
    assert fused["te_nas_lr"] == get_proxy("te_nas_lr")(net, x, y)


# ---------------------------------------------------------------------------------------------- aggregate
def test_te_nas_rank_sum_by_hand() -> None:
    ntk = [-10.0, -2.0, -5.0, float("nan"), -2.0]  # minus condition numbers; NaN ranks lowest
    lr = [30.0, 10.0, 30.0, 20.0, 40.0]
    # dense ranks: ntk (nan=-inf) -> [2, 4, 3, 1, 4]; lr -> [3, 1, 3, 2, 4]
    assert rank_aggregate([ntk, lr], rule="sum") == pytest.approx([5, 5, 6, 3, 8])
    with pytest.raises(ValueError, match="rule"):
        rank_aggregate([ntk], rule="mean")


def test_te_nas_row_group_and_vote() -> None:
    import pandas as pd
    from nasrepro.reproduce.cmd_correlate import parse_votes
    from scipy.stats import spearmanr

    assert resolve_proxies("te_nas") == ("te_nas_ntk", "te_nas_lr")
    assert parse_votes(["te_nas"]) == [("te_nas_ntk", "te_nas_lr")]
    rng = np.random.default_rng(1)
    acc = rng.normal(size=50)
    frame = pd.DataFrame({"te_nas_ntk": acc + rng.normal(scale=0.8, size=50),
                          "te_nas_lr": np.round(acc + rng.normal(scale=1.0, size=50))})  # ties, like counts
    rows = correlation_table(frame, acc, list(frame.columns), votes=[("te_nas_ntk", "te_nas_lr")], ci_seed=0,
                             n_boot=40).set_index("proxy")
    agg = rank_aggregate([frame["te_nas_ntk"], frame["te_nas_lr"]], rule="sum")
    assert rows.loc["te_nas", "spearman"] == pytest.approx(spearmanr(agg, acc)[0])
    log_agg = rank_aggregate([frame["te_nas_ntk"], frame["te_nas_lr"]])
    assert rows.loc["vote(te_nas_ntk+te_nas_lr)", "spearman"] == pytest.approx(spearmanr(log_agg, acc)[0])
    lo, hi = rows.loc["te_nas", ["spearman_lo", "spearman_hi"]]
    assert lo < rows.loc["te_nas", "spearman"] < hi
