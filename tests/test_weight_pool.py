import warnings

import pytest
import torch

from bench.nb201.network import build_nb201_net
from bench.nb201.weight_pool import PoolWarning, WeightPool, _key_file, pool_hooks

A = (3, 1, 2, 3, 4, 1)  # conv3x3, skip, conv1x1, conv3x3, pool, skip
B = (3, 1, 2, 2, 4, 1)  # differs on edge 3<-0 only


def net(arch, seed=0):
    return build_nb201_net(arch, num_classes=10, C=4, N=1, seed=seed)


def same_block_weights(n1, n2, arch1, arch2) -> bool:
    b1 = {b.key: b for b in n1.blocks(32) if b.has_params}
    b2 = {b.key: b for b in n2.blocks(32) if b.has_params}
    shared = set(b1) & set(b2)
    assert shared
    return all(
        torch.equal(v, b2[k].module.state_dict()[n]) for k in shared for n, v in b1[k].module.state_dict().items()
    )


def test_roundtrip_hit_ratio_and_weights(tmp_path) -> None:
    pool = WeightPool(tmp_path / "pool", max_mb=50)
    n1 = net(A, seed=1)
    assert pool.load_into(n1, A) == 0.0
    pool.write_back(n1, A)
    n2 = net(A, seed=2)
    assert pool.load_into(n2, A) == 1.0  # no batch hints: every rollout sees earlier write-backs
    assert same_block_weights(n1, n2, A, A)
    n3 = net(B, seed=3)
    ratio = pool.load_into(n3, B)
    assert 0.5 < ratio < 1.0  # the changed edge's conv1x1 block at 3<-0 is new
    # a second pool object on the same folder (a later run) sees the same entries
    again = WeightPool(tmp_path / "pool", max_mb=50)
    assert len(again) == len(pool) and again.load_into(net(A, seed=4), A) == 1.0


def test_strict_fairness_within_a_batch(tmp_path) -> None:
    pool = WeightPool(tmp_path, max_mb=50)
    pool.announce({"batch": 0})
    n1 = net(A, 1)
    pool.load_into(n1, A)
    pool.write_back(n1, A)
    pool.announce({"batch": 0})  # same batch: the write-back stays staged
    assert pool.load_into(net(A, 2), A) == 0.0
    pool.announce({"batch": 1})  # next batch: snapshot commits it
    assert pool.load_into(net(A, 3), A) == 1.0


def test_average_rule(tmp_path) -> None:
    pool = WeightPool(tmp_path, max_mb=50, rule="average")
    n1, n2 = net(A, 1), net(A, 2)
    pool.write_back(n1, A)
    pool.write_back(n2, A)
    n3 = net(A, 3)
    pool.load_into(n3, A)
    w1, w2, w3 = (x.stem[0].weight for x in (n1, n2, n3))
    torch.testing.assert_close(w3, (w1 + w2) / 2)


def test_corrupted_truncated_and_wrong_shape_entries_are_skipped(tmp_path) -> None:
    pool = WeightPool(tmp_path, max_mb=50)
    n1 = net(A, 1)
    pool.write_back(n1, A)
    pool.snapshot()
    # wrong shape: an entry written by a wider network under the stem's key
    wide = next(b for b in build_nb201_net(A, 10, C=8, N=1, seed=0).blocks(32) if b.kind == "stem")
    stem_key = next(b.key for b in n1.blocks(32) if b.kind == "stem")
    stem_file = tmp_path / "blocks" / _key_file(stem_key)
    files = sorted(p for p in (tmp_path / "blocks").glob("*.pt") if p != stem_file)
    n_before = len(files) + 1
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # truncated
    files[1].write_bytes(b"not a torch file")  # corrupted
    stem_file.write_bytes(WeightPool._encode(stem_key, wide.module.state_dict(), 1))
    n2 = net(A, 2)
    before = {k: v.clone() for k, v in n2.state_dict().items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ratio = pool.load_into(n2, A)
    assert sum(issubclass(w.category, PoolWarning) for w in caught) == 3
    assert pool.stats["bad"] == 3
    assert ratio < 1.0
    assert torch.equal(n2.stem[0].weight, before["stem.0.weight"])  # the bad stem entry was not loaded
    # bad entries are moved aside, not deleted; the good ones stay
    assert len(list((tmp_path / "quarantine").glob("*.pt"))) == 3
    assert len(list((tmp_path / "blocks").glob("*.pt"))) == n_before - 3


def test_size_bound_evicts_least_recently_used(tmp_path) -> None:
    pool = WeightPool(tmp_path, max_mb=50)
    pool.write_back(net(A, 1), A)
    pool.snapshot()
    one = pool.size_bytes
    small = WeightPool(tmp_path / "small", max_mb=one * 0.6 / 2**20)
    small.write_back(net(A, 1), A)
    small.snapshot()
    assert small.size_bytes <= one * 0.6 and small.stats["evicted"] > 0
    assert not list((tmp_path / "small" / "blocks").glob(".*.tmp"))  # atomic writes leave no temp files


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="rule"):
        WeightPool(tmp_path, rule="oldest")
    with pytest.raises(ValueError, match="max_mb"):
        WeightPool(tmp_path, max_mb=0)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError):
        WeightPool(f)


def test_hooks_for_live_benchmark(tmp_path) -> None:
    hooks = pool_hooks(tmp_path, 50)
    n1 = net(A, 1)
    assert hooks["initializer"](n1, A)["pool_hit_ratio"] == 0.0
    hooks["after_train"](n1, A)
    assert hooks["initializer"](net(A, 2), A)["pool_hit_ratio"] == 1.0
