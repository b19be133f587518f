"""The newer proxies (ZiCo, MeCo, Zen-score, AZ-NAS, NASWOT versions): each against an independent
formula on a fixed tiny network, sanity on an NB201 cell, fused = alone, and AZ-NAS's rank aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nasrepro.bench.proxies import get_proxy, resolve_proxies, score_all, seeded_net
from nasrepro.bench.proxies.aznas import expressivity_of, trainability_term
from nasrepro.bench.proxies.correlation import aggregate_ci, correlation_table, rank_aggregate
from nasrepro.bench.proxies.reference_net import reference_style
from torch import nn

NEW = ("zico", "meco", "zen", "az_expressivity", "az_progressivity", "az_trainability")
ARCH = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def nb201_small(seed: int = 3) -> nn.Module:
    from nasrepro.bench.nb201.network import build_nb201_net

    return seeded_net(lambda: build_nb201_net(ARCH, num_classes=4, C=4, N=1), seed)


def images(n: int = 8, hw: int = 8, classes: int = 4, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, hw, hw, generator=g), torch.randint(0, classes, (n,), generator=g)


# ---------------------------------------------------------------------------------------------- ZiCo
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_zico_linear_layer_matches_numpy() -> None:
    w = np.array([[0.5, -1.0, 0.2, 0.0], [0.3, 0.1, -0.4, 0.8], [-0.6, 0.7, 0.9, -0.2]])
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
    net = nn.Sequential(nn.Flatten(), lin)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, 1, 1, generator=g, dtype=torch.float64).float()
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1])
    grads = []
    for half in (slice(0, 4), slice(4, 8)):  # two minibatches of 4: dL/dW = (softmax - onehot)^T x / n
        xa, ya = x[half].reshape(4, 4).double().numpy(), y[half].numpy()
        p = _softmax(xa @ w.T)
        p[np.arange(4), ya] -= 1
        grads.append((p.T @ xa / 4).ravel())
    stack = np.stack(grads)
    std = stack.std(axis=0)
    nz = std > 0
    expected = np.log(np.sum(np.abs(stack).mean(axis=0)[nz] / std[nz]))
    assert get_proxy("zico")(net, x, y) == pytest.approx(expected, rel=1e-5)


def test_zico_fused_with_extra_batch_equals_alone_on_both_batches() -> None:
    net = nb201_small()
    x, y = images(8)
    x2, y2 = images(8, seed=6)
    fused = score_all(net, x, y, "zico,grad_norm", extra_batches=[(x2, y2)])
    alone = get_proxy("zico")(net, torch.cat([x, x2]), torch.cat([y, y2]))
    assert fused["zico"] == pytest.approx(alone, rel=1e-6)
    assert fused["grad_norm"] == pytest.approx(get_proxy("grad_norm")(net, x, y), rel=1e-6)


# ---------------------------------------------------------------------------------------------- MeCo
def test_meco_one_conv_matches_numpy() -> None:
    w = np.array([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1]])
    conv = nn.Conv2d(2, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(w).reshape(3, 2, 1, 1))
    net = nn.Sequential(conv)
    x = torch.tensor([[[[0.1, 0.4], [-0.2, 0.9]], [[1.0, -0.5], [0.3, 0.2]]]])  # one image, 2 x 2 x 2
    fmap = w @ x[0].reshape(2, 4).double().numpy()  # [3 channels, 4 positions]
    lam = np.linalg.eigvalsh(np.corrcoef(fmap)).min()
    # the root Sequential and the conv both output this map: two terms, as the official named_modules loop
    two = torch.cat([x, torch.randn(1, 2, 2, 2)])  # only the first image is read
    assert get_proxy("meco")(net, two, torch.zeros(2, dtype=torch.long)) == pytest.approx(2 * lam, rel=1e-6)


def test_meco_pooled_and_logit_outputs_add_zero() -> None:
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    x = torch.randn(2, 2, 4, 4)
    assert get_proxy("meco")(net, x, torch.zeros(2, dtype=torch.long)) == 0.0


# ---------------------------------------------------------------------------------------------- Zen
def test_zen_tiny_net_matches_numpy() -> None:
    net = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 4))
    x, y = images(6, 4)
    # the draws, in the documented order: conv weight, linear weight, x, e
    g = torch.Generator().manual_seed(0)
    w = torch.empty(2, 3, 1, 1).normal_(0, 1, generator=g).reshape(2, 3).double().numpy()
    torch.empty(4, 2).normal_(0, 1, generator=g)
    a = torch.randn(6, 3, 4, 4, generator=g)
    e = torch.randn(6, 3, 4, 4, generator=g)
    b = (a + 0.01 * e).double().numpy()
    a = a.double().numpy()

    def forward(inp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.einsum("oc,nchw->nohw", w, inp)
        mu, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
        out = np.maximum((z - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5), 0)
        return out, z.var(axis=(0, 2, 3), ddof=1)

    f1, v1 = forward(a)
    f2, v2 = forward(b)
    delta = np.abs(f1 - f2).sum(axis=(1, 2, 3)).mean()
    running = 0.9 * (0.9 * 1.0 + 0.1 * v1) + 0.1 * v2  # momentum 0.1 from var = 1, unbiased batch vars
    expected = np.log(delta) + np.log(np.sqrt(running.mean()))
    assert get_proxy("zen")(net, x, y) == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------------------------------------- AZ-NAS
def test_expressivity_is_spectrum_entropy() -> None:
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(3, 4, 5, 5, generator=g)
    f = feat.permute(0, 2, 3, 1).reshape(-1, 4).double().numpy()
    f = f - f.mean(axis=0)
    s = np.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    assert expressivity_of(feat) == pytest.approx(float(np.sum(-p * np.log(p + 1e-8))), rel=1e-9)


def test_trainability_of_a_1x1_conv_and_an_identity() -> None:
    w = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    f_in = torch.randn(2, 2, 3, 3, generator=torch.Generator().manual_seed(2), requires_grad=True)
    f_out = torch.einsum("oc,nchw->nohw", w, f_in)
    g = torch.Generator().manual_seed(7)
    value = trainability_term(f_in, f_out, g)
    # same Rademacher draw; g_in = W^T g_out per position; M = g_in^T g_out / positions
    go = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=torch.Generator().manual_seed(7)) - 0.5) * 2
    go = go.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    gi = go @ w.double().numpy()
    smax = np.linalg.svd(gi.T @ go / go.shape[0], compute_uv=False).max()
    assert value == pytest.approx(-smax - 1 / (smax + 1e-6) + 2, rel=1e-9)
    x = torch.randn(2, 2, 3, 3, requires_grad=True)
    assert trainability_term(x, x * 1.0, torch.Generator().manual_seed(0)) == -math.inf


def test_rank_aggregate_by_hand_and_nan_lowest() -> None:
    agg = rank_aggregate([[1.0, 2.0, 3.0], [3.0, float("nan"), 1.0]])
    expected = [math.log(1 / 3) + math.log(3 / 3), math.log(2 / 3) + math.log(1 / 3),
                math.log(3 / 3) + math.log(2 / 3)]
    assert agg == pytest.approx(expected)


def test_aggregate_rows_and_interval() -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    acc = rng.normal(size=60)
    frame = pd.DataFrame({p: acc + rng.normal(scale=s, size=60) for p, s in
                          zip(("synflow", "zico", "meco", "az_expressivity", "az_progressivity", "az_trainability", "flops"),
                              (0.5, 0.6, 0.7, 1.0, 1.5, 1.2, 0.8))})
    table = correlation_table(frame, acc, list(frame.columns), votes=[("synflow", "zico", "meco")], ci_seed=0,
                              n_boot=40)
    rows = table.set_index("proxy")
    assert {"az_nas", "vote(synflow+zico+meco)"} <= set(rows.index)
    agg = rank_aggregate([frame[p] for p in ("synflow", "zico", "meco")])
    from scipy.stats import spearmanr

    assert rows.loc["vote(synflow+zico+meco)", "spearman"] == pytest.approx(spearmanr(agg, acc)[0])
    lo, hi = rows.loc["vote(synflow+zico+meco)", ["spearman_lo", "spearman_hi"]]
    assert lo < rows.loc["vote(synflow+zico+meco)", "spearman"] < hi
    assert aggregate_ci([frame["synflow"]], acc, np.random.default_rng(1), n_boot=50)[0] <= 1.0


# ---------------------------------------------------------------------------------------------- NB201 sanity
@pytest.mark.parametrize("name", NEW)
def test_new_proxy_on_nb201_cell_is_finite_pure_and_deterministic(name: str) -> None:
    net = nb201_small()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = images(8)
    a = get_proxy(name)(net, x, y)
    b = get_proxy(name)(net, x, y)
    assert isinstance(a, float) and math.isfinite(a) and a == b, (name, a, b)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "proxy changed the network"
    if name in ("zico", "zen", "az_expressivity"):
        assert a > 0, (name, a)  # log-sums / entropies of a working network are positive
    if name == "az_trainability":
        assert a <= 2.0  # -s - 1/s + 2 <= 0 for every pair


def test_groups_and_aliases() -> None:
    assert resolve_proxies("az_nas") == ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
    net = nb201_small()
    x, y = images(8)
    got = score_all(net, x, y, "naswot_v1,naswot_v2,az_complexity")
    assert got["naswot_v1"] == get_proxy("jacob_cov")(net, x, y)  # v1 of the paper = Jacobian correlation
    assert got["naswot_v2"] == get_proxy("naswot")(net, x, y)  # v2 (ICML 2021) = Hamming-kernel logdet
    assert got["az_complexity"] == get_proxy("flops")(net, x, y)
    assert "naswot_v1" not in resolve_proxies("all")


# ---------------------------------------------------------------------------------------------- fisher and conv biases
@pytest.mark.parametrize("arch", [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|",
])
def test_conv_bias_of_the_reference_network_changes_fisher_only(arch: str) -> None:
    from nasrepro.bench.nb201.network import build_nb201_net

    ours = seeded_net(lambda: build_nb201_net(arch, num_classes=4, C=4, N=1), 0)
    x, y = images(8)
    names = "grad_norm,snip,grasp,fisher,jacob_cov,naswot"
    a = score_all(ours, x, y, names)
    biased = score_all(reference_style(ours, seed=11), x, y, names)
    unbiased = score_all(reference_style(ours, bias_zero=True), x, y, names)
    for p in ("grad_norm", "snip", "grasp", "jacob_cov", "naswot"):  # train-mode BN cancels a constant bias
        assert biased[p] == pytest.approx(a[p], rel=1e-4, abs=1e-9), p
    assert unbiased["fisher"] == pytest.approx(a["fisher"], rel=1e-4)  # same proxy code, no bias: same value
    # the bias alone moves fisher (a few per cent per cell, differently per cell: a different ranking)
    assert abs(biased["fisher"] - a["fisher"]) > 1e-2 * abs(a["fisher"])


def test_vote_option_parses_subsets_and_rejects_bad_ones() -> None:
    from nasrepro.reproduce.cmd_correlate import parse_votes

    assert parse_votes(["synflow,zico,meco", "az_nas"]) == [
        ("synflow", "zico", "meco"), ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")]
    assert parse_votes(None) == []
    with pytest.raises(ValueError, match="at least two"):
        parse_votes(["synflow"])
    with pytest.raises(ValueError, match="unknown proxy"):
        parse_votes(["synflow,nope"])
