"""NB201 tabular fast path: per-cell arrays give exactly what the per-query computation gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench.nb201 import space as S
from nasrepro.bench.nb201.benchmark import NB201Tabular, make_nb201
from nasrepro.bench.nb201.tables import NB201Table, load_csv
from test_nb201_tables import synthetic  # tests/ is on sys.path (rootdir import mode)


def _same_everywhere(bench: NB201Tabular) -> int:
    """Compare fast and reference answers on every cell the table has; return how many were compared."""
    rng = np.random.default_rng(0)
    n = 0
    for i in bench.table.index.tolist():
        arch = S.index_to_arch(i)
        if not np.isfinite(bench._value(arch, bench.signal_metric)):
            continue
        ref = bench._query_reference(arch, rng)
        fast = bench.query(arch, rng)
        assert fast == ref, (i, fast, ref)  # dataclass equality: score, cost, kind and info, exactly
        assert bench.query(arch, rng) is fast  # the second query is a lookup
        assert bench.flops_m(arch) == bench._flops_m_reference(arch)
        assert bench.params_m(arch) == bench._params_m_reference(arch)
        assert bench.cost_s(arch) == bench._cost_s_reference(arch)
        n += 1
    return n


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_synthetic_every_cell(dataset: str) -> None:
    table = synthetic()
    assert _same_everywhere(make_nb201(dataset, table=table)) == len(table)


def test_partial_table_keeps_errors_and_model_costs() -> None:
    partial = synthetic(n=10, seeds=False)
    bench = make_nb201(table=partial)
    assert _same_everywhere(bench) == 10
    absent = next(a for a in range(S.N_ARCHS) if a not in set(partial.index.tolist()))
    with pytest.raises(ValueError, match="not in the table"):
        bench.query(S.index_to_arch(absent), np.random.default_rng(0))
    with pytest.raises(ValueError):
        bench.query((5, 0, 0, 0, 0, 0), np.random.default_rng(0))
    with pytest.raises(ValueError):
        bench.query([0, 0, 0], np.random.default_rng(0))
    # an absent cell has no FLOPs, params or cost either, as before: the table's one-line error
    arch = S.index_to_arch(absent)
    for fn in (bench.flops_m, bench.params_m, bench.cost_s, bench._flops_m_reference, bench._cost_s_reference):
        with pytest.raises(ValueError, match="not in the table"):
            fn(arch)


def test_other_argument_types_answer_alike() -> None:
    bench = make_nb201(table=synthetic())
    arch = S.index_to_arch(123)
    rng = np.random.default_rng(0)
    ref = bench._query_reference(arch, rng)
    assert bench.query(tuple(np.int64(c) for c in arch), rng) == ref
    assert bench.query(list(arch), rng) == ref
    assert bench.space.check(tuple(np.int64(c) for c in arch)) == arch
    assert all(type(c) is int for c in bench.space.check(tuple(np.int64(c) for c in arch)))
    assert bench.space.to_str(list(arch)) == S.to_str(arch)


def test_embedded_every_cell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path))
    bench = make_nb201()
    assert _same_everywhere(bench) > 15_000


@pytest.fixture(scope="module")
def csv_table(nb201_csv: Path) -> NB201Table:
    return load_csv(nb201_csv)


@pytest.mark.parametrize(
    "dataset, fidelity, scaling",
    [("cifar10", "12", "nb201"), ("imagenet16-120", "12", "images"), ("cifar100", "200", "nb201")],
)
def test_csv_every_cell(csv_table: NB201Table, dataset: str, fidelity: str, scaling: str) -> None:
    bench = make_nb201(dataset, table=csv_table, fidelity=fidelity, cost_scaling=scaling)
    assert _same_everywhere(bench) == S.N_ARCHS
