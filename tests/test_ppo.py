import numpy as np
import pytest
from nasrepro.bench.core import Observation
from nasrepro.bench.runner import run_search
from nasrepro.bench.toy import ToySpace, make_toy
from nasrepro.methods.base import make_method
from nasrepro.methods.ppo import PPO
from nasrepro.methods.testing import check_method


def test_conformance() -> None:
    check_method("ppo")


def test_surrogate_gradient_matches_finite_differences() -> None:
    space = ToySpace(4, 3)
    m = PPO(space, np.random.default_rng(0), entropy_coef=0.05)
    m._ensure_setup()
    rng = np.random.default_rng(1)
    m.policy.logits[:] = rng.normal(0, 1, m.policy.logits.shape)
    m.policy._probs = None
    archs = [tuple(int(c) for c in rng.integers(3, size=4)) for _ in range(6)]
    idx = m.policy.flat_index(archs)
    logp_start = m.policy.log_probs(idx) + rng.normal(0, 0.1, 6)  # ratios around 1, some clipped
    adv = rng.normal(0, 1, 6)
    w = rng.uniform(0.5, 1.0, 6)
    _, grad = m.surrogate(idx, adv, w, logp_start)
    num = np.zeros_like(grad)
    base = m.policy.logits.copy()
    for k in range(len(base)):
        for sign in (1, -1):
            m.policy.logits[:] = base
            m.policy.logits[k] += sign * 1e-6
            m.policy._probs = None
            num[k] += sign * m.surrogate(idx, adv, w, logp_start)[0] / 2e-6
    m.policy.logits[:] = base
    m.policy._probs = None
    np.testing.assert_allclose(grad, num, atol=1e-5)


def test_learns_on_toy_benchmark() -> None:
    res = run_search(make_toy(), "ppo", 0, "300evals")
    scores = np.array([r.score for r in res.records])
    assert scores[-50:].mean() > scores[:50].mean() + 3.0


def test_constrained_space_every_ask_valid() -> None:
    space = ToySpace(6, 5, max_sum=8)
    m = PPO(space, np.random.default_rng(3), batch_size=4)
    for _ in range(60):
        a = m.ask()
        assert space.is_valid(a)
        m.tell(a, Observation(float(-sum(a)), 1.0))


@pytest.mark.parametrize("bad", [{"clip_eps": 0.0}, {"batch_size": 0}, {"lr": -1.0}, {"baseline_decay": 1.0}])
def test_bad_params(bad: dict) -> None:
    m = make_method("ppo", ToySpace(), np.random.default_rng(0), **bad)  # __init__ only stores
    with pytest.raises(ValueError):
        m.ask()


def test_runs_on_spos_small_space() -> None:
    pytest.importorskip("torch")
    from nasrepro.bench.supernet.space import mnist_small_space

    space = mnist_small_space()
    m = PPO(space, np.random.default_rng(0), batch_size=5)
    for _ in range(20):
        a = m.ask()
        assert space.is_valid(a) and len(a) == len(space.choices)
        m.tell(a, Observation(float(sum(a)), 1.0))
    assert m.n_updates == 4
