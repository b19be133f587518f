import warnings

import pytest
import torch
from nasrepro.bench.nb201.network import build_nb201_net
from nasrepro.bench.nb201.weight_pool import PoolWarning, WeightPool, _key_file, pool_hooks

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
    pool = WeightPool(tmp_path / "pool", max_mb=50, match="exact")
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
    assert again.load_into(net(B, seed=5), B) == 1.0  # similarity (default): the new conv1x1 inherits too
    assert again.last_exact_ratio == ratio


def _edge(n, stage, edge):
    return next(b for b in n.blocks(32) if b.kind == "edge" and b.stage == stage and b.edge == edge).module


def test_similarity_maps_1x1_and_3x3_centre(tmp_path) -> None:
    """A conv1x1 inherits the centre tap of a stored conv3x3 at its place; a conv3x3 inherits a stored
    conv1x1 zero-padded (the same function at initialisation); BN tensors are copied."""
    conv3 = (3, 1, 1, 1, 1, 1)  # 1<-0 is a 3x3 conv, the rest skip
    conv1 = (2, 1, 1, 1, 1, 1)  # 1<-0 is a 1x1 conv
    pool = WeightPool(tmp_path / "a", max_mb=50)
    n3 = net(conv3, 1)
    pool.write_back(n3, conv3)
    n1 = net(conv1, 2)
    assert pool.load_into(n1, conv1) == 1.0 and pool.last_exact_ratio < 1.0
    for stage in range(3):
        w3, w1 = _edge(n3, stage, "1<-0").op[1].weight, _edge(n1, stage, "1<-0").op[1].weight
        assert w1.shape[-1] == 1 and torch.equal(w1[:, :, 0, 0], w3[:, :, 1, 1])
        assert torch.equal(_edge(n1, stage, "1<-0").op[2].weight, _edge(n3, stage, "1<-0").op[2].weight)
    back = WeightPool(tmp_path / "b", max_mb=50)
    back.write_back(n1, conv1)
    n3b = net(conv3, 3)
    assert back.load_into(n3b, conv3) == 1.0
    w = _edge(n3b, 0, "1<-0").op[1].weight
    assert torch.equal(w[:, :, 1, 1], _edge(n1, 0, "1<-0").op[1].weight[:, :, 0, 0])
    ring = w.detach().clone()
    ring[:, :, 1, 1] = 0
    assert not ring.any()  # the ring around the centre is zero


def test_hit_ratio_is_100_percent_once_any_block_exists(tmp_path) -> None:
    """After one network of any cell (even one without a cell conv) is in the pool, every block of
    every other network inherits: cell convs from the reductions' conv_b, channels mapped."""
    import itertools

    pool = WeightPool(tmp_path, max_mb=50)
    empty = (1, 1, 1, 1, 1, 1)  # skip everywhere: the pool gets only stem, reductions and head
    pool.write_back(net(empty, 0), empty)
    for i, arch in enumerate(itertools.islice(itertools.product(range(5), repeat=6), 0, 15625, 997)):
        assert pool.load_into(net(arch, i), arch) == 1.0, arch
    assert pool.load_into(net(A, 9), A) == 1.0 and pool.last_exact_ratio < 1.0
    exact = WeightPool(tmp_path, max_mb=50, match="exact")
    assert exact.load_into(net(A, 9), A) < 1.0  # the identity keys alone miss the cell convs


def test_frozen_pool_is_read_only_and_fresh_pool_resets(tmp_path) -> None:
    from nasrepro.bench.nb201.weight_pool import export_pool

    live = WeightPool(tmp_path / "live", max_mb=50, mode="fresh")
    live.write_back(net(A, 1), A)
    frozen_dir = export_pool(tmp_path / "live", tmp_path / "frozen")
    before = sorted((p.name, p.read_bytes()) for p in frozen_dir.rglob("*") if p.is_file())
    frozen = WeightPool(frozen_dir, mode="frozen")
    assert frozen.load_into(net(B, 2), B) == 1.0
    frozen.write_back(net(B, 2), B)
    assert sorted((p.name, p.read_bytes()) for p in frozen_dir.rglob("*") if p.is_file()) == before
    live.reset()
    assert len(live) == 0 and live.load_into(net(A, 3), A) == 0.0


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
