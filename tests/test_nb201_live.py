import math

import numpy as np
import pytest
import torch
from nasrepro.bench.nb201.live import CONFIGS, LiveConfig, NB201Live, make_nb201_live
from nasrepro.bench.nb201.network import NB201Network
from nasrepro.bench.registry import make_benchmark

FAST = {"n_train": 64, "n_val": 32, "n_test": 32, "batch_size": 16, "epochs": 1}
ARCH = (3, 2, 4, 1, 0, 3)


@pytest.fixture(scope="module")
def live():
    return make_nb201_live(dataset="mnist", config="tiny", **FAST)


def test_registered_and_describes_stand_in(live):
    bench = make_benchmark("nb201-live", dataset="mnist", config="tiny", **FAST)
    assert isinstance(bench, NB201Live)
    desc = bench.describe()
    assert "stand-in" in desc["dataset"] and "stand-in" in desc["train_data"]
    assert len(bench.train_data) == 64 and len(bench.val_data) == 32 and len(bench.test_data) == 32


def test_query_trains_and_is_deterministic(live):
    a = live.query(ARCH, np.random.default_rng(7))
    b = live.query(ARCH, np.random.default_rng(7))
    assert a.cost_kind == "train-measured" and a.cost_s > 0
    assert 0.0 <= a.score <= 100.0 and a.score == b.score
    assert a.info["train_loss"] == b.info["train_loss"] and math.isfinite(a.info["train_loss"])
    assert "test_acc" not in a.info  # the method never sees a test accuracy
    fin = live.final(ARCH)
    assert fin["val_acc"] == b.score and 0.0 <= fin["test_acc"] <= 100.0
    assert live.ledger()["rollouts"] >= 2


def test_final_of_untrained_arch_trains_once(live):
    arch = (1, 1, 1, 1, 1, 1)
    first = live.final(arch)
    assert live.final(arch) == first


def test_hooks_see_addressable_blocks_and_inheritance_changes_training():
    bench = NB201Live("mnist", "tiny", **FAST)
    pool: dict[str, dict[str, torch.Tensor]] = {}
    seen: list[int] = []

    def initializer(net: NB201Network, arch):
        hits = 0
        blocks = net.blocks(bench.image_size)
        for blk in blocks:
            if blk.key in pool:
                blk.module.load_state_dict(pool[blk.key])
                hits += 1
        seen.append(hits)
        return {"hits": hits, "blocks": len(blocks)}

    def after_train(net: NB201Network, arch):
        for blk in net.blocks(bench.image_size):
            pool[blk.key] = {k: v.clone() for k, v in blk.module.state_dict().items()}

    bench.initializer, bench.after_train = initializer, after_train
    fresh = bench.query(ARCH, np.random.default_rng(1))
    assert fresh.info["init"]["hits"] == 0 and pool
    # the edge op of stage 1, cell 0, edge 3<-2 (a 3x3 conv here) is in the pool under its identity
    assert "edge:nor_conv_3x3:8x16x16->8x16x16:s1:c0:3<-2" in pool
    inherited = bench.query(ARCH, np.random.default_rng(1))
    assert inherited.info["init"]["hits"] == inherited.info["init"]["blocks"]
    assert inherited.info["train_loss"] < fresh.info["train_loss"]  # starts from trained weights


def test_curve_option_records_every_epoch():
    bench = NB201Live("mnist", "tiny", curve=True, **{**FAST, "epochs": 2})
    obs = bench.query(ARCH, np.random.default_rng(0))
    assert len(obs.info["val_curve"]) == 2 and obs.info["val_curve"][-1] == obs.score


def test_bad_options():
    with pytest.raises(ValueError, match="dataset"):
        NB201Live("svhn")
    with pytest.raises(ValueError, match="config"):
        NB201Live("mnist", "huge")
    with pytest.raises(ValueError, match="option"):
        NB201Live("mnist", "tiny", colour=True)
    with pytest.raises(ValueError, match=">= 1"):
        LiveConfig(epochs=0)
    with pytest.raises(ValueError, match="room"):
        NB201Live("mnist", "tiny", n_train=10_000)
    assert set(CONFIGS) >= {"tiny", "small", "medium", "nb201"}


def test_cifar10_needs_data(monkeypatch):
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="NASREPRO_DATA"):
        NB201Live("cifar10", "tiny")


def test_cifar10_shared_rollout(shared_data, monkeypatch):
    monkeypatch.setenv("NASREPRO_DATA", str(shared_data))
    bench = NB201Live("cifar10", "tiny", **FAST)
    assert "stand-in" not in bench.describe()["dataset"] and bench.augment
    assert "pixel-exact" in bench.test_data.provenance
    obs = bench.query(ARCH, np.random.default_rng(0))
    assert 0.0 <= obs.score <= 100.0


@pytest.mark.slow  # a second interpreter importing torch: ~8 s idle, ~30 s on the shared 2-core box
def test_same_seed_same_result_in_another_process(live):
    import subprocess
    import sys

    code = (
        "import numpy as np, torch; torch.set_num_threads(1);"
        "from nasrepro.bench.nb201.live import make_nb201_live;"
        f"b = make_nb201_live('mnist', 'tiny', **{FAST!r});"
        f"o = b.query({ARCH!r}, np.random.default_rng(11)); print(repr((o.score, o.info['train_loss'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    here = live.query(ARCH, np.random.default_rng(11))
    assert out.stdout.strip() == repr((here.score, here.info["train_loss"]))


def test_weight_pool_option_inherits_blocks(tmp_path) -> None:
    """--bench-opt weight_pool=DIR: the second rollout of the same cell inherits its blocks."""
    import numpy as np
    from nasrepro.bench.nb201.live import make_nb201_live

    bench = make_nb201_live("mnist", "tiny", weight_pool=str(tmp_path / "pool"), C=4, N=1, epochs=1,
                            n_train=32, n_val=16, n_test=16, batch_size=16)
    rng = np.random.default_rng(0)
    arch = (3, 1, 2, 3, 4, 1)
    bench.announce({"batch": 0})
    bench.query(arch, rng)
    bench.announce({"batch": 1})  # strict fairness: write-backs become visible at the next batch
    obs = bench.query(arch, rng)
    assert obs.info["init"]["pool_hit_ratio"] > 0
    assert any((tmp_path / "pool").rglob("*"))
