"""Zero-cost proxies (Abdelfattah et al., ICLR 2021; Mellor et al., ICML 2021).

Every proxy is a function ``(net, inputs, targets) -> float`` in one registry
(:func:`register_proxy`, :func:`get_proxy`, :func:`available_proxies`); :func:`score_all` computes
several with shared passes; :mod:`bench.proxies.store` keeps per-architecture scores on disk.
"""

from nasrepro.bench.proxies.fused import arch_seed, score_all, score_each, seeded_net
from nasrepro.bench.proxies.registry import (
    PAPER_PROXIES,
    VOTE_PROXIES,
    available_proxies,
    get_proxy,
    register_proxy,
    resolve_proxies,
)

__all__ = [
    "PAPER_PROXIES",
    "VOTE_PROXIES",
    "arch_seed",
    "available_proxies",
    "get_proxy",
    "register_proxy",
    "resolve_proxies",
    "score_all",
    "score_each",
    "seeded_net",
]
