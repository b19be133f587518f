"""One registry of zero-cost proxies: ``name -> fn(net, inputs, targets) -> float``.

Each registered function computes its proxy *alone* (own forward/backward passes), the way
SamsungLabs/zero-cost-nas computes one measure at a time; :func:`bench.proxies.fused.score_all`
computes several with shared passes and must agree with these.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ProxyFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], float]

_PROXIES: dict[str, ProxyFn] = {}

# The six proxies of Abdelfattah et al. Table 1, in the paper's column order.
PAPER_PROXIES = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov")
# The three proxies whose majority vote the reference notebook reports.
VOTE_PROXIES = ("synflow", "jacob_cov", "snip")
# Newer proxies (ZiCo, MeCo, Zen-score, AZ-NAS's three network-level parts, TE-NAS's two), in this order
# after the rest.
NEW_PROXIES = ("zico", "meco", "zen", "az_expressivity", "az_progressivity", "az_trainability",
               "te_nas_ntk", "te_nas_lr")
# Other names of a registered proxy: same function, same value, never listed by "all" (no duplicate
# columns). NASWOT v1 (arXiv 2006.04647v1) is the Jacobian-correlation score = jacob_cov; the ICML 2021
# version (v2, the BayesWatch repo's ``hook_logdet``) is the Hamming-kernel log-determinant = naswot.
# AZ-NAS's complexity part is the FLOP count.
ALIASES = {"naswot_v1": "jacob_cov", "naswot_v2": "naswot", "az_complexity": "flops"}
# Names that stand for several proxies: AZ-NAS is scored by its four parts and TE-NAS by its two, each
# aggregated over a population (bench.proxies.correlation).
GROUPS = {"az_nas": ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
          "te_nas": ("te_nas_ntk", "te_nas_lr")}


def register_proxy(name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator: register ``fn`` under ``name``; a duplicate name is an error."""

    def deco(fn: ProxyFn) -> ProxyFn:
        if name in _PROXIES:
            raise ValueError(f"proxy {name!r} is already registered")
        _PROXIES[name] = fn
        return fn

    return deco


def _load() -> None:
    # Importing the modules runs their @register_proxy decorators.
    from nasrepro.bench.proxies import aznas, gradient, jacobian, meco, plain, synflow, tenas, zen, zico  # noqa: F401


def available_proxies() -> tuple[str, ...]:
    _load()
    order = [*PAPER_PROXIES, "naswot", "params", "flops", *NEW_PROXIES]
    return tuple([p for p in order if p in _PROXIES] + sorted(p for p in _PROXIES if p not in order))


def canonical(name: str) -> str:
    """The registered name behind an alias (``naswot_v1`` -> ``jacob_cov``); other names unchanged."""
    return ALIASES.get(name, name)


def get_proxy(name: str) -> ProxyFn:
    _load()
    name = canonical(name)
    if name not in _PROXIES:
        raise ValueError(f"unknown proxy {name!r}; choose from: {', '.join(available_proxies())}")
    return _PROXIES[name]


def resolve_proxies(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"all"`` or ``"a,b,c"`` (or a list) -> validated proxy names, order kept, duplicates dropped; a
    group name (``az_nas``) stands for its parts; an alias (``naswot_v1``) is kept as asked."""
    names = available_proxies()
    if isinstance(spec, str):
        if spec.strip() == "all":
            return names
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    if not items:
        raise ValueError("no proxy named; pass --proxies all or a comma-separated list")
    items = [q for p in items for q in GROUPS.get(p, (p,))]
    out: list[str] = []
    for p in items:
        get_proxy(p)  # raises the one-line error for an unknown name
        if p not in out:
            out.append(p)
    return tuple(out)
