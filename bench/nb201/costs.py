"""Simulated training cost of an NB201 evaluation when a table has no recorded times.

Model (cell FLOPs ``F`` = :func:`bench.nb201.space.flops_m`, in millions)::

    cost_s = epochs * n_train * (a + b * F)  +  n_valid * (a_v + b_v * F)

i.e. ``epochs * train_epoch_s + valid_s``, what the NB201 search scripts charge per evaluation
(``R_EA.py``: ``train-all-time + valid-per-time`` of the 12-epoch run).

Calibration (seconds per image): two official ``cifar10-valid`` records (25,000 training and
25,000 validation images per epoch) printed from the official API in public code (stored-text
ids 31701411149 and 17112366699 in this project's search index):
index 0 ``|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|``:
``train-per-time`` 7.2211 s, ``valid-per-time`` 2.5490 s; index 1
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``:
10.8482 s and 3.7542 s. ``a, b`` (``a_v, b_v``) is the line through these two points.

Two scalings to the other data sets (``scaling=``):

- ``"nb201"`` (default, the NB201 paper's 12-epoch protocol): every data set is charged the
  ``cifar10-valid`` time of the CIFAR-10 network (n_train = n_valid = 25,000, CIFAR-10 FLOPs).
  Evidence: (1) the official files record the same 12-epoch ``train-per-time``/``train-all-time``
  for cifar10 and cifar100 (NATS-Bench issue #57, D-X-Y/NATS-Bench); (2) the published
  RS results (NB201 Table, quoted in shared/reference/nb201_baselines.csv) match uniform
  random search with about 90-100 (CIFAR-10), 80 (CIFAR-100) and 70-80 (ImageNet16-120)
  evaluations on the shared table, i.e. about the same number of evaluations in 12,000 s on
  every data set; this scaling gives ~110 (uniform draws; REA ~105), the ``"images"``
  scaling only 23 on ImageNet16-120 (expected RS test 43.0 +- 2.1 vs published 44.57 +- 1.25).
- ``"images"``: per-epoch time scaled by the number of training/validation images, as the
  official estimator for the 200-epoch branch does (AutoDL-Projects ``exps/algos/R_EA.py``,
  ``estimated_train_cost = train-per-time / 25000 * n_train``; sizes cifar10-valid
  25,000/25,000, cifar100 50,000/5,000, ImageNet16-120 151,700/3,000), with the data set's own
  network FLOPs in place of its latency ratio. Mean cost ratio 1 : 2 : 4.9, near the 1 : 2 : 6
  of NATS-Bench's REA budgets (20,000 / 40,000 / 120,000 s).

Caveats (also in every ``describe()``): the two records are 200-epoch runs, which the NB201
author says ran on different machines (the 12-epoch runs all ran on one 1080Ti); a line through
two points is a coarse model (NATS-Bench records for other cells, e.g. 28.8 s/epoch for index 32
on 50,000 CIFAR-10 images, are about 1.7x this model's 16.8 s: absolute seconds depend on the
machine). With 12,000 s a uniformly drawn cell costs ~107 s (12 epochs plus one validation
pass): about 110 evaluations; see :func:`expected_evals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from nasrepro.bench.core import Arch
from nasrepro.bench.nb201 import space as nb201

N_TRAIN = {"cifar10": 25_000, "cifar100": 50_000, "imagenet16-120": 151_700}
N_VALID = {"cifar10": 25_000, "cifar100": 5_000, "imagenet16-120": 3_000}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
INPUT_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}

# (arch string, train seconds per epoch, valid seconds per epoch) on cifar10-valid, see above.
CALIBRATION: tuple[tuple[str, float, float], ...] = (
    (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
        7.221092998981476,
        2.54897923696609,
    ),
    (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        10.848206877708435,
        3.754198976925442,
    ),
)
_CALIBRATION_IMAGES = 25_000


@lru_cache(maxsize=1)
def coefficients() -> tuple[float, float, float, float]:
    """(a, b, a_v, b_v): seconds per image = a + b * MFLOPs (training), a_v + b_v * MFLOPs (validation)."""
    f = np.array([nb201.flops_m(nb201.from_str(s)) for s, _, _ in CALIBRATION])
    t = np.array([tr for _, tr, _ in CALIBRATION]) / _CALIBRATION_IMAGES
    v = np.array([va for _, _, va in CALIBRATION]) / _CALIBRATION_IMAGES
    b, a = np.polyfit(f, t, 1)
    bv, av = np.polyfit(f, v, 1)
    return float(a), float(b), float(av), float(bv)


SCALINGS = ("nb201", "images")


@dataclass(frozen=True)
class FlopsCostModel:
    """``cost_s(arch, epochs) = epochs * train_epoch_s(arch) + valid_s(arch)`` for one data set."""

    dataset: str
    scaling: str = "nb201"

    def __post_init__(self) -> None:
        if self.dataset not in N_TRAIN:
            raise ValueError(
                f"no cost model for dataset {self.dataset!r}; choose one of: {', '.join(N_TRAIN)}"
            )
        if self.scaling not in SCALINGS:
            raise ValueError(f"unknown cost scaling {self.scaling!r}; choose one of: {', '.join(SCALINGS)}")

    @property
    def _ds(self) -> str:
        # "nb201": every data set is charged as cifar10-valid (see the module docstring)
        return "cifar10" if self.scaling == "nb201" else self.dataset

    def flops_m(self, arch: Arch) -> float:
        return nb201.flops_m(arch, NUM_CLASSES[self._ds], INPUT_SIZE[self._ds])

    def train_epoch_s(self, arch: Arch) -> float:
        a, b, _, _ = coefficients()
        return N_TRAIN[self._ds] * (a + b * self.flops_m(arch))

    def valid_s(self, arch: Arch) -> float:
        _, _, av, bv = coefficients()
        return N_VALID[self._ds] * (av + bv * self.flops_m(arch))

    def cost_s(self, arch: Arch, epochs: int) -> float:
        return epochs * self.train_epoch_s(arch) + self.valid_s(arch)

    def describe(self) -> str:
        a, b, av, bv = coefficients()
        how = (
            "every data set charged the cifar10-valid time of the CIFAR-10 network, as NB201's 12-epoch "
            "records are (scaling=nb201)"
            if self.scaling == "nb201"
            else "scaled by image counts as NB201's R_EA.py estimator does (scaling=images)"
        )
        return (
            f"FLOPs-proportional model (bench/nb201/costs.py): cost_s = epochs * {N_TRAIN[self._ds]} * "
            f"({a:.3e} + {b:.3e} * MFLOPs) + {N_VALID[self._ds]} * ({av:.3e} + {bv:.3e} * MFLOPs); "
            f"calibrated on two official cifar10-valid per-epoch times; {how}; simulated seconds, not measured"
        )


def expected_evals(dataset: str, budget_s: float, epochs: int = 12, scaling: str = "nb201") -> float:
    """Budget / mean cost over all 15,625 cells (a uniform-sampling sanity check)."""
    model = FlopsCostModel(dataset, scaling)
    mean = float(np.mean([model.cost_s(a, epochs) for a in nb201.all_archs()]))
    return budget_s / mean
