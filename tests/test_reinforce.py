"""REINFORCE matches a torch transcription of NB201's reinforce.py update, and learns."""

from __future__ import annotations

import numpy as np
import pytest
from nasrepro.bench.core import Observation
from nasrepro.methods.reinforce import Reinforce
from nasrepro.methods.testing import ConstrainedSpace, SyntheticBenchmark, SyntheticSpace, drive


def test_update_matches_torch_reference() -> None:
    torch = pytest.importorskip("torch")
    from torch.distributions import Categorical

    space = SyntheticSpace()
    m = Reinforce(space, np.random.default_rng(0), learning_rate=0.5)
    m.ask()  # builds the policy
    logits = torch.nn.Parameter(torch.tensor(np.stack(m.policy.segments())))
    opt = torch.optim.Adam([logits], lr=m.learning_rate)
    num = den = 0.0
    rng = np.random.default_rng(1)
    for _ in range(12):
        arch = tuple(int(c) for c in rng.integers(5, size=6))
        reward = float(rng.uniform(60, 90))
        m.tell(arch, Observation(reward, 1.0))
        # reference (reinforce.py): EMA update first, then loss = -log_prob * (reward - baseline)
        num, den = 0.9 * num + 0.1 * reward, 0.9 * den + 0.1
        log_prob = Categorical(torch.softmax(logits, -1)).log_prob(torch.tensor(arch)).sum()
        loss = -log_prob * (reward - num / den)
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(np.stack(m.policy.segments()), logits.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_first_update_has_zero_advantage_and_init_is_small() -> None:
    m = Reinforce(SyntheticSpace(), np.random.default_rng(0))
    a = m.ask()
    before = [z.copy() for z in m.policy.segments()]
    assert max(np.abs(z).max() for z in before) < 0.01  # 1e-3 * N(0, 1)
    m.tell(a, Observation(80.0, 1.0))
    for x, y in zip(before, m.policy.segments()):
        np.testing.assert_array_equal(x, y)


def test_defaults_follow_nats_bench_scripts() -> None:
    m = Reinforce(SyntheticSpace(), np.random.default_rng(0))
    assert (m.learning_rate, m.ema_momentum) == (0.01, 0.9)


def test_policy_learns_on_synthetic_benchmark() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    early, late = [], []
    for seed in range(5):
        scores = [s for _, s in drive(Reinforce(space, np.random.default_rng(seed), learning_rate=0.1), bench, 150)]
        early.append(np.mean(scores[:30]))
        late.append(np.mean(scores[-30:]))
    assert np.mean(late) > np.mean(early) + 1.0


def test_constraint_is_respected_even_after_policy_drift() -> None:
    space = ConstrainedSpace(SyntheticSpace())
    m = Reinforce(space, np.random.default_rng(0), max_resample=50)
    m.ask()
    m.policy.set_logits([[0.0, 0.0, 0.0, 0.0, 30.0]] * 6)  # all mass on invalid archs
    for _ in range(20):
        assert space.is_valid(m.ask())


def test_warm_start_moves_policy_towards_pool_and_propose() -> None:
    m = Reinforce(SyntheticSpace(), np.random.default_rng(0))
    m.warm_start([(3,) * 6] * 32 + [(1,) * 6] * 32, [1.0] * 64)
    assert all(p[3] + p[1] > 0.95 and min(p[1], p[3]) > 0.3 for p in m.probs())  # the pool frequencies
    props = m.propose(7)
    assert len(props) == 7 and sum(set(a) <= {1, 3} for a in props) >= 5
    with pytest.raises(ValueError, match="learning_rate"):
        Reinforce(SyntheticSpace(), np.random.default_rng(0), learning_rate=0).ask()
