"""NAS-Bench-201: the cell space (:mod:`.space`), tabular tables (:mod:`.tables`), the
tabular benchmark (:mod:`.benchmark`) and its cost model (:mod:`.costs`)."""

from nasrepro.bench.nb201.space import EDGES, OPS, NB201Space

__all__ = ["EDGES", "OPS", "NB201Space"]
