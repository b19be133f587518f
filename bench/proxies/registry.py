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
    from bench.proxies import gradient, jacobian, plain, synflow  # noqa: F401


def available_proxies() -> tuple[str, ...]:
    _load()
    order = [*PAPER_PROXIES, "naswot", "params", "flops"]
    return tuple([p for p in order if p in _PROXIES] + sorted(p for p in _PROXIES if p not in order))


def get_proxy(name: str) -> ProxyFn:
    _load()
    if name not in _PROXIES:
        raise ValueError(f"unknown proxy {name!r}; choose from: {', '.join(available_proxies())}")
    return _PROXIES[name]


def resolve_proxies(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"all"`` or ``"a,b,c"`` (or a list) -> validated proxy names, order kept, duplicates dropped."""
    names = available_proxies()
    if isinstance(spec, str):
        if spec.strip() == "all":
            return names
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    if not items:
        raise ValueError("no proxy named; pass --proxies all or a comma-separated list")
    out: list[str] = []
    for p in items:
        get_proxy(p)  # raises the one-line error for an unknown name
        if p not in out:
            out.append(p)
    return tuple(out)
