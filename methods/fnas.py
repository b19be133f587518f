"""FNAS (Liu et al., arXiv 2105.11694): PPO + uncertainty-aware critic + architecture transfer + replay.

The paper's method section is not available; this is our reading, each component behind its own switch
(all off = plain :class:`methods.ppo.PPO`).

**Critic** (``critic=True``): a deep ensemble (``ensemble_members`` one-hidden-layer ReLU networks with
random hidden layers and ridge read-outs, each on its own bootstrap; numpy, :mod:`methods._critic`) on
``space.encode(arch)``, refitted after every batch on every measured (arch, reward), targets
standardised by the running mean/std of the measured rewards. In this one-step
problem the critic is Q(arch); it serves

- as the PPO baseline: ``b = mean_i Q(a_i)`` over the freshly sampled batch (a lower-variance estimate
  of the policy's expected reward than a moving average; spared archs then get a negative advantage);
- to spare rollouts. **Rule**: a sampled arch is *spared* (not trained; its predicted mean stands in for
  the reward) when ``mean + uncertainty_k * std < median`` of the measured rewards of the last
  ``batch_size`` trained archs, once the critic has seen ``min_trained`` (effective) points;
  ``std`` is the ensemble spread (plus the transfer term below). With ``reuse_known=True`` an arch
  already trained is also spared, its measured reward standing in (the critic is exact there; on a
  deterministic table re-training gives the same number). Duplicates inside one batch are trained once.

When ``spare_patience`` consecutive batches needed no training (the policy has converged on known or
poor archs), a batch of the most promising unknown archs (highest ``mean + k * std`` among
``5 * batch_size`` policy samples, topped up with one-decision mutations of the policy's mode) is
trained instead, so that the budget keeps buying information (counted as ``forced``).

Spared and trained archs are counted (``step_info``); only trained ones are asked, so only they cost,
and only they can be recommended. ``calibration`` holds (predicted mean, std, real reward) of every
trained arch the critic had a prediction for.

**Transfer** (``transfer_from``, needs the critic): (arch, reward) of earlier runs pre-train the critic.
The method receives data, never a path: ``transfer_from`` is a list of ``(archs, rewards, dataset)``, one
per source run. A run's spec names a path (a run directory written by the runner, searched recursively
for ``seed*.jsonl``, or one such file), which :func:`methods.base.make_method` loads with
:func:`load_transfer` (the class's ``data_params``); only each step's ``arch`` and ``score`` are read
(a run file also holds test accuracy, which a search must never see). Rescaling: each source file's rewards are z-scored within that file (another dataset has another
scale), the new run's by its own running statistics. Trust: every transferred point has loss weight
``n0 / (n0 + n_trained)`` (``transfer_n0``), decaying as the new task's data arrive, and the critic's
variance gets ``+ lambda * e^2``, with lambda that same weight and ``e^2`` the mean squared error (z units)
of the critic's predictions on the last measured batch before it saw it; a transferred critic that
is wrong on the new task therefore spares less. Loading a run of another space -> ValueError; a missing
path -> FileNotFoundError (both in ``make_method``, before the search starts).

**Replay** (``replay=True``): a buffer of trained (arch, reward, log-prob at sampling time). Each PPO
batch has ``ceil(B/2)`` fresh samples and ``B//2`` drawn uniformly from the buffer; a replayed item enters
the clipped surrogate with the factor ``w = min(pi_start(a) / pi_behaviour(a), replay_clip)``
(``replay_clip`` c = 1.0 by default: truncated importance sampling as in Retrace/V-trace; pi_start is the
policy when the update begins, pi_behaviour the one that sampled it; ``w`` is a constant of the update).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from nasrepro.bench.core import Arch, SearchSpace
from nasrepro.bench.io import read_jsonl
from nasrepro.methods._critic import Ensemble
from nasrepro.methods.base import register, register_variant
from nasrepro.methods.ppo import PPO, Item


def transfer_files(path: Path | str) -> list[Path]:
    """The trajectory files of a run directory (recursively) or the one file named."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"transfer run {path} not found; pass a run directory written by 'nasrepro run'")
    files = [path] if path.is_file() else sorted(path.rglob("seed*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no seed*.jsonl trajectories under {path}; pass a run directory of the runner")
    return files


def load_transfer(path: Path | str, space: SearchSpace) -> list[tuple[list[Arch], np.ndarray, str]]:
    """(archs, rewards, dataset) per source file; another space -> ValueError. Of each step only the
    architecture and its search score are read. FNAS's loader for ``transfer_from`` (``data_params``)."""
    out = []
    for f in transfer_files(path):
        try:
            rows = read_jsonl(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read transfer run {f}: {err}") from None
        meta = next((r for r in rows if r.get("type") == "meta"), None)
        if meta is None:
            raise ValueError(f"{f} has no meta line: not a trajectory written by the runner")
        if meta.get("space") != space.name:
            raise ValueError(
                f"transfer run {f} searched space {meta.get('space')!r}, this search is on {space.name!r}; "
                "transfer only from a run of the same space"
            )
        steps = [r for r in rows if r.get("type") == "step"]
        archs = [space.from_str(r["arch"]) for r in steps]
        rewards = np.array([float(r["score"]) for r in steps])
        if not np.all(np.isfinite(rewards)):
            raise ValueError(f"transfer run {f} has non-finite scores")
        if len(archs):
            out.append((archs, rewards, str(meta.get("dataset", ""))))
    return out


@register("fnas")
class FNAS(PPO):
    """PPO + uncertainty-aware critic + transfer + replay (see module doc for the rules)."""

    conformance_params = {"batch_size": 4, "epochs": 2, "min_trained": 4}
    data_params: ClassVar[dict[str, str]] = {"transfer_from": "nasrepro.methods.fnas:load_transfer"}

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        critic: bool = True,
        transfer_from: list[tuple[list[Arch], np.ndarray, str]] | None = None,
        replay: bool = True,
        uncertainty_k: float = 0.5,
        min_trained: int = 20,
        reuse_known: bool = True,
        ensemble_members: int = 5,
        critic_hidden: int = 64,
        transfer_n0: float = 50.0,
        replay_clip: float = 1.0,
        replay_capacity: int = 2000,
        spare_patience: int = 5,
        **ppo_params: Any,
    ) -> None:
        super().__init__(space, rng, **ppo_params)
        self.critic = critic
        self.transfer_from = transfer_from
        self.replay = replay
        self.uncertainty_k = uncertainty_k
        self.min_trained = min_trained
        self.reuse_known = reuse_known
        self.ensemble_members = ensemble_members
        self.critic_hidden = critic_hidden
        self.transfer_n0 = transfer_n0
        self.replay_clip = replay_clip
        self.replay_capacity = replay_capacity
        self.spare_patience = spare_patience

    # -- state -----------------------------------------------------------------------
    def _validate(self) -> None:
        super()._validate()
        k = float(self.uncertainty_k)
        if not math.isfinite(k) or k < 0:
            raise ValueError(f"fnas: uncertainty_k must be a number >= 0, got {self.uncertainty_k}")
        for name in ("critic", "replay", "reuse_known"):
            flag = getattr(self, name)
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"fnas: {name} must be True or False, got {flag!r}")
        if self.transfer_from and not self.critic:
            raise ValueError("fnas: transfer_from pre-trains the critic; set critic=True or drop transfer_from")
        if self.replay_clip <= 0 or self.transfer_n0 < 0:
            raise ValueError("fnas: need replay_clip > 0 and transfer_n0 >= 0")
        for name, least in (("min_trained", 0), ("spare_patience", 0), ("ensemble_members", 2),
                            ("critic_hidden", 1), ("replay_capacity", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"fnas: {name} must be an integer >= {least}, got {value!r}")
        if isinstance(self.transfer_from, (str, Path)):
            raise ValueError(
                "fnas: transfer_from must be data, a list of (archs, rewards, dataset) as load_transfer returns; "
                "a path is loaded by methods.base.make_method (or pass load_transfer(path, space))"
            )
        for source in self.transfer_from or ():
            if len(source) < 2 or len(source[0]) != len(source[1]):
                raise ValueError("fnas: each transfer_from entry is (archs, rewards[, dataset]) of equal lengths")
            if not np.all(np.isfinite(np.asarray(source[1], dtype=float))):
                raise ValueError("fnas: transfer_from has non-finite rewards")

    def _setup(self) -> None:
        super()._setup()
        self.n_trained = 0
        self.n_spared_critic = 0
        self.n_spared_known = 0
        self.n_sampled = 0
        self.n_forced = 0
        self._last_pred: tuple[float, float] | None = None
        self.calibration: list[dict[str, float]] = []
        self.known: dict[Arch, float] = {}
        self._own_rewards: list[float] = []
        self._recent: list[float] = []  # last batch_size measured rewards
        self._pred: dict[int, tuple[float, float]] = {}  # batch index -> (mean, std) at screening
        self._dups: list[tuple[int, int]] = []
        self._dup_idx: set[int] = set()
        self._gap2 = 1.0  # squared z-error of the critic on the last batch before seeing it
        self.buffer: list[Item] = []
        self.n_transfer = 0
        self._ens: Ensemble | None = None
        if self.critic:
            seed = int(self.rng.integers(2**63 - 1))
            dim = len(self.space.encode(tuple(0 for _ in self.space.choices)))
            self._ens = Ensemble(dim, np.random.default_rng(seed), self.ensemble_members, self.critic_hidden)
            if self.transfer_from:
                for archs, rewards, *_ in self.transfer_from:
                    archs = [self.space.check(a) for a in archs]
                    rewards = np.asarray(rewards, dtype=float)
                    sd = float(rewards.std()) or 1.0
                    z = (rewards - rewards.mean()) / sd
                    self._ens.add(np.stack([self.space.encode(a) for a in archs]), z, group=1)
                    self.n_transfer += len(archs)
                if self.n_transfer:
                    self._refit()

    # -- critic helpers ----------------------------------------------------------------
    def _stats(self) -> tuple[float, float]:
        r = np.asarray(self._own_rewards)
        if len(r) < 2:
            return (float(r.mean()) if len(r) else 0.0), 1.0
        return float(r.mean()), float(r.std()) or 1.0

    def _lambda(self) -> float:
        if not self.n_transfer:
            return 0.0
        return self.transfer_n0 / (self.transfer_n0 + self.n_trained)

    def _refit(self) -> None:
        assert self._ens is not None
        # own points: targets follow the running statistics; transferred ones are z-scored per source
        self._ens.fit(weight={0: 1.0, 1: self._lambda()}, affine={0: self._stats()})

    def _critic_ready(self) -> bool:
        eff = self.n_trained + self._lambda() * self.n_transfer
        return self._ens is not None and eff >= max(self.min_trained, 1) and len(self._recent) > 0

    def _predict(self, archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Critic mean and std in reward units (std includes the transfer-trust term)."""
        assert self._ens is not None
        mu, sd = self._stats()
        m, s = self._ens.predict(np.stack([self.space.encode(a) for a in archs]))
        s_tot = np.sqrt(s**2 + self._lambda() * self._gap2)
        return mu + sd * m, sd * s_tot

    # -- PPO hooks ---------------------------------------------------------------------
    def _fresh_count(self) -> int:
        return self.batch_size - self.batch_size // 2 if self.replay else self.batch_size

    def _screen(self, batch: list[Item]) -> None:
        self.n_sampled += len(batch)
        self._pred, self._dups, self._dup_idx = {}, [], set()
        if self._ens is None:
            return
        have_pred = self.n_trained > 0 or self.n_transfer > 0
        if have_pred:
            mean, std = self._predict([it.arch for it in batch])
            self._pred = {i: (float(mean[i]), float(std[i])) for i in range(len(batch))}
        thr = float(np.median(self._recent)) if self._recent else math.inf
        ready = self._critic_ready()
        first: dict[Arch, int] = {}
        for i, it in enumerate(batch):
            if self.reuse_known and it.arch in self.known:
                it.reward, it.spared = self.known[it.arch], True
                self.n_spared_known += 1
            elif ready and self._pred[i][0] + self.uncertainty_k * self._pred[i][1] < thr:
                it.reward, it.spared = self._pred[i][0], True
                self.n_spared_critic += 1
            elif self.reuse_known and it.arch in first:
                self._dups.append((i, first[it.arch]))  # trained once, copied at the end of the batch
                it.reward = math.nan  # placeholder: not asked
            else:
                first[it.arch] = i
        for i, _ in self._dups:
            batch[i].reward = None
        self._dup_idx = {i for i, _ in self._dups}

    def _new_batch(self) -> None:
        for _ in range(self.spare_patience):
            archs = self._sample_batch(self._fresh_count())
            self._batch = [Item(a, self.policy.log_prob(a)) for a in archs]
            self._screen(self._batch)
            # duplicates wait for their first copy instead of being asked
            self._queue = [i for i, it in enumerate(self._batch) if it.reward is None and i not in self._dup_idx]
            if self._queue:
                return
            self._finish_batch()  # everything spared: learn from the predictions, sample again
        # The policy keeps proposing what is known or predicted poor (it has converged): train a batch
        # of the most promising *unknown* archs among many policy samples (highest upper bound), topped
        # up with unknown one-decision mutations of the policy's mode. They enter the PPO update as
        # fresh samples (slightly off-policy; the clipping bounds the step).
        self.n_forced += 1
        want = self._fresh_count()
        cands = list(dict.fromkeys(
            a for a in self._sample_batch(5 * self.batch_size) if a not in self.known
        ))
        if cands and self._ens is not None:
            mean, std = self._predict(cands)
            order = np.argsort(-(mean + self.uncertainty_k * std), kind="stable")
            cands = [cands[int(j)] for j in order]
        picks = cands[:want]
        mode = tuple(int(np.argmax(p)) for p in self.policy.probs())
        cur = mode
        for _ in range(1000):
            if len(picks) >= want:
                break
            cur = self.space.mutate(mode if self.rng.random() < 0.5 else cur, self.rng)
            if cur not in self.known and cur not in picks:
                picks.append(cur)
        self._batch = [Item(a, self.policy.log_prob(a)) for a in picks]
        self._pred, self._dups, self._dup_idx = {}, [], set()
        if self._ens is not None and (self.n_trained > 0 or self.n_transfer > 0):
            mean, std = self._predict(picks)
            self._pred = {i: (float(mean[i]), float(std[i])) for i in range(len(picks))}
        self._queue = list(range(len(self._batch)))

    def _on_trained(self, i: int) -> None:
        item = self._batch[i]
        self.n_trained += 1
        self._last_pred = self._pred.get(i)
        if self._last_pred is not None:
            m, s = self._last_pred
            self.calibration.append({"pred_mean": m, "pred_std": s, "reward": float(item.reward)})

    def _finish_batch(self) -> None:
        for i, j in self._dups:
            self._batch[i].reward = self._batch[j].reward
            self._batch[i].spared = True
            self.n_spared_known += 1
        self._dups = []
        super()._finish_batch()

    def _baseline_for(self, items: list[Item]) -> float:
        fresh = [it.arch for it in items if not it.replay]
        if self._ens is not None and (self.n_trained > 0 or self.n_transfer > 0) and fresh:
            mean, _ = self._predict(fresh)
            return float(mean.mean())
        return super()._baseline_for(items)

    def _extra_items(self) -> list[Item]:
        if not self.replay or not self.buffer:
            return []
        n = min(self.batch_size // 2, len(self.buffer))
        pick = self.rng.choice(len(self.buffer), size=n, replace=False)
        return [
            Item(self.buffer[k].arch, self.buffer[k].logp_behaviour, self.buffer[k].reward, replay=True)
            for k in sorted(pick)
        ]

    def _importance_weights(self, items: list[Item], logp_start: np.ndarray) -> np.ndarray:
        w = np.ones(len(items))
        for n, it in enumerate(items):
            if it.replay:
                w[n] = min(math.exp(min(logp_start[n] - it.logp_behaviour, 50.0)), self.replay_clip)
        return w

    def _after_update(self, items: list[Item]) -> None:
        super()._after_update(items)
        trained = [it for it in items if not it.spared and not it.replay]
        if not trained:
            return
        rewards = [float(it.reward) for it in trained]  # type: ignore[arg-type]
        self._recent = (self._recent + rewards)[-self.batch_size :]
        for it in trained:
            self.known.setdefault(it.arch, float(it.reward))  # type: ignore[arg-type]
        if self.replay:
            self.buffer.extend(Item(it.arch, it.logp_behaviour, it.reward) for it in trained)
            self.buffer = self.buffer[-self.replay_capacity :]
        if self._ens is not None:
            # the critic's error on data it has not seen yet: the trust term for transferred knowledge
            if self.n_transfer and len(self._own_rewards) >= 2:
                mu, sd = self._stats()
                m, _ = self._ens.predict(np.stack([self.space.encode(it.arch) for it in trained]))
                self._gap2 = float(np.mean((m - (np.asarray(rewards) - mu) / sd) ** 2))
            self._own_rewards.extend(rewards)
            self._ens.add(np.stack([self.space.encode(it.arch) for it in trained]), np.asarray(rewards))
            self._refit()

    def step_info(self) -> dict[str, Any]:
        if not self.is_setup:
            return {}
        return {
            **super().step_info(),
            "trained": self.n_trained,
            "spared_critic": self.n_spared_critic,
            "spared_known": self.n_spared_known,
            "sampled": self.n_sampled,
            "forced": self.n_forced,
            # the critic's prediction for the architecture just trained (calibration data)
            **({"pred_mean": self._last_pred[0], "pred_std": self._last_pred[1]} if self._last_pred else {}),
        }


# Named variants of the FNAS ablation (reachable as `nasrepro run --method NAME`).
register_variant("ppo+critic", "fnas", "PPO + the uncertainty-aware critic (no replay)", critic=True, replay=False)
register_variant("ppo+replay", "fnas", "PPO + replay without the critic (diagnostic)", critic=False, replay=True)
register_variant("fnas-no-reuse", "fnas", "FNAS without reusing measured rewards of trained archs (diagnostic)",
                 critic=True, replay=True, reuse_known=False)
# Transfer variants: the critic's pre-training data is per run (``--set transfer_from=RUN``); the grid of
# `nasrepro reproduce fnas` passes an earlier PPO+critic run (``+transfer``) or that run with every
# top-1% cell of the target task removed (``+transfer-heldout``: what a user transferring to a new task has).
register_variant("ppo+critic+transfer", "fnas", "PPO + critic pre-trained on an earlier run (set transfer_from=RUN)",
                 requires=("transfer_from",), critic=True, replay=False)
register_variant("ppo+critic+transfer-heldout", "fnas",
                 "PPO + critic pre-trained on source data without the target's top cells (set transfer_from=RUN)",
                 requires=("transfer_from",), critic=True, replay=False)
