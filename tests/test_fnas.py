import json
import math

import numpy as np
import pytest
from nasrepro.bench.runner import RunSpec, execute, run_search
from nasrepro.bench.toy import ToySpace, make_toy
from nasrepro.methods._critic import Ensemble
from nasrepro.methods.base import make_method
from nasrepro.methods.fnas import FNAS, load_transfer
from nasrepro.methods.ppo import Item
from nasrepro.methods.testing import check_method


def test_conformance() -> None:
    check_method("fnas")


def test_bad_input() -> None:
    space, rng = ToySpace(), np.random.default_rng(0)
    data = [([(0,) * 6, (1,) * 6], np.array([1.0, 2.0]), "cifar10")]
    for bad, needle in (({"uncertainty_k": -0.1}, "uncertainty_k"), ({"critic": False, "transfer_from": data}, "critic"),
                        ({"ensemble_members": 1}, "ensemble")):
        m = make_method("fnas", space, rng, **bad)
        with pytest.raises(ValueError, match=needle):
            m.ask()  # __init__ only stores (scikit-learn rule): checks run on the first ask
    with pytest.raises(ValueError, match="must be data"):  # a path given to the class itself is refused
        FNAS(space, rng, transfer_from="/some/run").ask()
    with pytest.raises(FileNotFoundError):  # make_method loads a path at once: a missing run fails now
        make_method("fnas", space, rng, transfer_from="/nonexistent/run")


def test_transfer_from_other_space_is_refused(tmp_path) -> None:
    f = tmp_path / "fnas" / "seed0.jsonl"
    f.parent.mkdir()
    f.write_text(json.dumps({"type": "meta", "space": "nb201"}) + "\n" + json.dumps({"type": "final"}) + "\n")
    with pytest.raises(ValueError, match="same space"):
        make_method("fnas", ToySpace(), np.random.default_rng(0), transfer_from=str(tmp_path))


def test_spared_are_not_asked_and_counts_add_up() -> None:
    res = run_search(make_toy(), "fnas", 0, "200evals", {"batch_size": 8, "min_trained": 8})
    last = res.records[-1].extra
    assert last["trained"] == len(res.records) == 200
    assert last["sampled"] >= last["trained"] + last["spared_critic"] + last["spared_known"] - 1000
    assert last["spared_critic"] + last["spared_known"] > 0
    told = {r.arch for r in res.records}
    assert res.final["final_arch"] in told
    assert any("pred_mean" in r.extra for r in res.records)  # calibration data logged


def test_calibration_attribute_and_reuse_known() -> None:
    bench = make_toy()
    m = FNAS(bench.space, np.random.default_rng(0), batch_size=6, min_trained=6)
    asked = []
    for _ in range(120):
        a = m.ask()
        asked.append(a)
        m.tell(a, bench.query(a, np.random.default_rng(0)))
    assert len(m.calibration) > 50
    assert all(math.isfinite(c["pred_mean"]) and c["pred_std"] >= 0 for c in m.calibration)
    # an architecture is trained at most once when reuse_known is on
    assert len(set(asked)) == len(asked)


def test_replay_weight_is_clipped_ratio() -> None:
    m = FNAS(ToySpace(), np.random.default_rng(0), replay_clip=1.0)
    m._ensure_setup()
    items = [Item((0,) * 6, math.log(0.5), 1.0, replay=True), Item((1,) * 6, math.log(0.1), 1.0, replay=True),
             Item((2,) * 6, math.log(0.2), 1.0)]
    w = m._importance_weights(items, np.array([math.log(0.25), math.log(0.4), math.log(0.2)]))
    np.testing.assert_allclose(w, [0.5, 1.0, 1.0])


def test_replay_halves_fresh_samples() -> None:
    m = FNAS(ToySpace(), np.random.default_rng(0), batch_size=10, critic=False, replay=True)
    assert m._fresh_count() == 5
    assert FNAS(ToySpace(), np.random.default_rng(0), batch_size=10, replay=False)._fresh_count() == 10


def test_transfer_loads_earlier_run(tmp_path) -> None:
    spec = RunSpec(bench="toy", method="ppo", seed=1, budget="60evals")
    path = execute(spec, tmp_path)
    data = load_transfer(tmp_path, ToySpace())
    assert len(data) == 1 and len(data[0][0]) == 60
    m = make_method("fnas", ToySpace(), np.random.default_rng(0), transfer_from=str(path), batch_size=6)
    assert m.transfer_from[0][0] == data[0][0]  # the method received the data, not the path
    bench = make_toy()
    for _ in range(30):
        a = m.ask()
        m.tell(a, bench.query(a, np.random.default_rng(0)))
    assert m.n_transfer == 60
    assert m._lambda() < 1.0  # trust in transferred points decays with own data
    # a transferred critic is usable from the first batch: it has predictions before any own data
    assert len(m.calibration) >= 25


def test_ensemble_fits_and_spreads() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((200, 12)) < 0.3).astype(float)
    y = x @ rng.normal(0, 1, 12)
    e = Ensemble(12, np.random.default_rng(1))
    e.add(x, y)
    e.fit()
    mean, std = e.predict(x)
    assert np.corrcoef(mean, y)[0, 1] > 0.95
    assert np.all(std >= 0) and std.mean() > 0


def test_switch_must_be_bool() -> None:
    m = make_method("fnas", ToySpace(), np.random.default_rng(0), critic="false")
    with pytest.raises(ValueError, match="critic must be True or False"):
        m.ask()
