"""The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020).

A cell is a DAG on 4 nodes; each of the 6 edges ``j <- i`` (i < j) carries one of 5 ops.
An :data:`Arch` is a tuple of 6 op indices in :data:`EDGES` order (the official string order)
with ops in :data:`OPS` order (the official op order).

Official index order (computed, not stored): the NB201 generator enumerates all cells in
lexicographic order of the op indices along the string's edge order (edge ``1<-0`` most
significant) and then shuffles the list with Python's ``random.seed(88); random.shuffle``
(AutoDL-Projects, ``exps/NAS-Bench-201/main.py: generate_meta_info``, which asserts the
0th, 9th and 123rd strings). :func:`index_to_arch` / :func:`arch_to_index` reproduce that;
``tests/test_nb201_space.py`` checks all 15,625 against the shared table's ``index`` column.
Tables still keep their own index arrays, so a file in another order loads correctly.

Params/FLOPs are analytical, from op counts of the official macro skeleton (see
:func:`params_m`, :func:`flops_m`); they are deliberately independent of any torch model so
that the network implementation can be cross-checked against them.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache

import numpy as np
from nasrepro.bench.core import Arch, SearchSpace
from nasrepro.bench.draws import sampler

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(to_node, from_node) per decision, in the official string order."""

N_ARCHS = len(OPS) ** len(EDGES)  # 15,625
N_UNIQUE = 6466  # structures up to isomorphism, as the NB201 paper counts them
N_UNIQUE_STRICT = 5390  # functional classes when x + 0 and x are merged too
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_EXPECTED_FORM = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op in " + ", ".join(OPS)

# Macro skeleton of the official CIFAR network (TinyNetwork): stem conv3x3(3->C)+BN,
# stages of N cells at C, 2C, 4C separated by ResNet basic blocks with stride 2, BN+ReLU,
# global average pool, linear classifier.
C_INIT = 16
N_CELLS = 5
_STAGES = (C_INIT, 2 * C_INIT, 4 * C_INIT)


def to_str(arch: Arch) -> str:
    """``(0, 3, 1, ...)`` -> ``|none~0|+|nor_conv_3x3~0|skip_connect~1|+|...|``."""
    names = [OPS[c] for c in arch]
    nodes = []
    k = 0
    for j in range(1, 4):
        nodes.append("|" + "|".join(f"{names[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


def from_str(text: str) -> Arch:
    """Inverse of :func:`to_str`; a malformed string raises a one-line ``ValueError``."""
    bad = ValueError(f"malformed NB201 architecture {text!r}: expected {_EXPECTED_FORM}")
    if not isinstance(text, str):
        raise bad
    parts = text.strip().split("+")
    if len(parts) != 3:
        raise bad
    arch: list[int] = []
    for j, part in enumerate(parts, start=1):
        if not (part.startswith("|") and part.endswith("|")):
            raise bad
        items = part[1:-1].split("|")
        if len(items) != j:
            raise bad
        for i, item in enumerate(items):
            op, sep, src = item.partition("~")
            if not sep or src != str(i) or op not in _OP_INDEX:
                raise bad
            arch.append(_OP_INDEX[op])
    return tuple(arch)


@lru_cache(maxsize=1)
def _official_order() -> tuple[Arch, ...]:
    archs = list(itertools.product(range(len(OPS)), repeat=len(EDGES)))
    # A private Random instance: same sequence as the module-level seed(88) the NB201
    # generator used, without touching global RNG state.
    random.Random(88).shuffle(archs)
    return tuple(archs)


@lru_cache(maxsize=1)
def _official_index() -> dict[Arch, int]:
    return {a: i for i, a in enumerate(_official_order())}


@lru_cache(maxsize=1)
def _canonical_archs() -> dict[Arch, Arch]:
    # Equal tuples hash alike whatever their element types (1, np.int64(1), 1.0), so one lookup
    # both validates a cell and returns its canonical tuple of Python ints.
    return {a: a for a in _official_order()}


_STR_CACHE: dict[Arch, str] = {}


@lru_cache(maxsize=1)
def _node_parts() -> tuple[dict[str, Arch], ...]:
    """Per node j = 1, 2, 3: every valid ``|op~0|...|op~(j-1)|`` part of a cell string -> its ops."""
    return tuple({"|" + "|".join(f"{OPS[c]}~{i}" for i, c in enumerate(ops)) + "|": ops
                  for ops in itertools.product(range(len(OPS)), repeat=j)} for j in (1, 2, 3))


@lru_cache(maxsize=1)
def _part_strings() -> tuple[dict[Arch, str], ...]:
    """:func:`_node_parts` inverted: per node, its ops -> the part of the cell string."""
    return tuple({ops: text for text, ops in parts.items()} for parts in _node_parts())


def str_to_index(text: str) -> int:
    """``arch_to_index(from_str(text))`` for a well-formed cell string, by three dictionary lookups (a
    table of 15,625 rows reads one per row); anything else -> ``KeyError`` or ``ValueError`` (call
    :func:`from_str` for the one-line message)."""
    a, b, c = text.strip().split("+")
    n1, n2, n3 = _node_parts()
    return _official_index()[n1[a] + n2[b] + n3[c]]


def index_to_arch(index: int) -> Arch:
    """The cell at position ``index`` of the official NB201 order."""
    if not 0 <= int(index) < N_ARCHS:
        raise ValueError(f"NB201 index {index} out of range: expected 0..{N_ARCHS - 1}")
    return _official_order()[int(index)]


def arch_to_index(arch: Arch) -> int:
    """Official NB201 index of ``arch``."""
    try:
        return _official_index()[tuple(int(c) for c in arch)]
    except KeyError:
        raise ValueError(f"not an NB201 architecture: {arch!r}; expected 6 op indices in 0..4") from None


def all_archs() -> list[Arch]:
    """All 15,625 cells in the official index order."""
    return list(_official_order())


def canonical(arch: Arch, strict: bool = False) -> str:
    """Isomorphism key: two cells that compute the same function share one key.

    Each node is written as the sorted sum of its incoming terms: a ``skip_connect`` passes
    the source expression through unchanged, any other op wraps it as ``(src)@op``, and
    ``none`` or an edge out of a zero node is a zero. Inlining sources removes node labels
    (relabelled intermediate nodes give one key) and sorting the sum removes the order of
    parallel paths; edges from nodes unreachable from the input vanish as zeros, edges into
    nodes that do not reach the output never appear in the output's expression.

    ``strict=False`` (default) is the NB201 convention behind its count of **6,466** unique
    structures (official API ``get_unique_str`` = ``to_unique_str(consider_zero=True)``):
    zero terms stay in a sum as ``#`` and a node is zero only when its sum is a single ``#``.
    So ``x + 0`` and ``x`` get different keys although they are the same function.
    ``strict=True`` drops zero terms (a node is zero when nothing non-zero reaches it) and
    merges those too: 5,390 functional classes.
    """
    exprs = ["0"]
    k = 0
    for j in range(1, 4):
        terms = []
        for i in range(j):
            op = OPS[arch[k + i]]
            src = exprs[i]
            if op == "none" or src == "#":
                if not strict:
                    terms.append("#")
            elif op == "skip_connect":
                terms.append(src)
            else:
                terms.append(f"({src})@{op}")
        exprs.append("+".join(sorted(terms)) if terms else "#")
        k += j
    return exprs[3]


def params_m(arch: Arch, num_classes: int = 10) -> float:
    """Trainable parameters in millions (what ``sum(p.numel())`` of the official net gives).

    Per op on an edge with C channels (the cell's ops keep C; BN is affine):
    ``nor_conv_3x3`` = ReLU-Conv(3x3, no bias)-BN = 9C^2 + 2C; ``nor_conv_1x1`` = C^2 + 2C;
    ``none``, ``skip_connect`` and ``avg_pool_3x3`` have none. Each op appears in N=5 cells
    of each stage (C = 16, 32, 64). Fixed part: stem conv 3*9*16 + BN 2*16; each reduction
    block (Cin -> Cout, stride 2) = conv_a 9*Cin*Cout + 2*Cout, conv_b 9*Cout^2 + 2*Cout,
    shortcut avgpool + 1x1 conv Cin*Cout; final BN 2*64; classifier 64*K + K.
    """
    n3 = sum(1 for c in arch if OPS[c] == "nor_conv_3x3")
    n1 = sum(1 for c in arch if OPS[c] == "nor_conv_1x1")
    total = 3 * 9 * C_INIT + 2 * C_INIT  # stem
    for c in _STAGES:
        total += N_CELLS * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c))
    for cin, cout in zip(_STAGES[:-1], _STAGES[1:]):
        total += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout
    last = _STAGES[-1]
    total += 2 * last + last * num_classes + num_classes
    return total / 1e6


def flops_m(arch: Arch, num_classes: int = 10, input_size: int = 32) -> float:
    """Forward FLOPs in millions for one image, NB201's counting convention.

    The official ``get_model_infos`` (AutoDL-Projects ``utils/flop_benchmark.py``) hooks
    several layer types but ``compute_average_flops_cost`` sums only Conv2d (k*k*Cin*Cout
    multiply-adds per output pixel, no bias here) and Linear (in*out + out for the bias);
    pooling, BN, ReLU and additions count zero. So per edge at C channels and HxW:
    ``nor_conv_3x3`` 9C^2HW, ``nor_conv_1x1`` C^2HW, ``avg_pool_3x3``/``skip``/``none`` 0.
    Stages run at input_size, /2, /4 (CIFAR 32, ImageNet16 16). Range on CIFAR-10:
    7.78 (no convolution in the cell) to 220.12 (all ``nor_conv_3x3``). Equal to half of
    ``torch.utils.flop_counter``'s count (2 per multiply-add) plus the classifier bias.
    """
    if input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4, got {input_size}")
    n3 = sum(1 for c in arch if OPS[c] == "nor_conv_3x3")
    n1 = sum(1 for c in arch if OPS[c] == "nor_conv_1x1")
    hw = input_size * input_size
    total = 9 * 3 * C_INIT * hw  # stem
    for s, c in enumerate(_STAGES):
        hw_s = hw // (4**s)
        total += N_CELLS * (n3 * 9 + n1) * c * c * hw_s
        if s + 1 < len(_STAGES):  # reduction block to the next stage, output at hw_s / 4
            cout, hw_o = _STAGES[s + 1], hw_s // 4
            total += 9 * c * cout * hw_o  # conv_a (stride 2)
            total += 9 * cout * cout * hw_o  # conv_b
            total += c * cout * hw_o  # shortcut 1x1 conv (its AvgPool2d counts zero)
    total += _STAGES[-1] * num_classes + num_classes  # classifier
    return total / 1e6


_CHOICES = (len(OPS),) * len(EDGES)


class NB201Space(SearchSpace):
    """6 edges x 5 ops; string form and moves as in the official NB201 API."""

    name = "nb201"
    choices = _CHOICES

    def check(self, arch: Arch) -> Arch:
        # Fast path, unless a subclass adds a constraint: a valid cell given as a tuple is one dict lookup.
        if type(self).is_valid is SearchSpace.is_valid:
            try:
                return _canonical_archs()[arch]  # type: ignore[index]
            except (KeyError, TypeError):  # not hashable or not a cell: the base class says why
                pass
        return super().check(arch)

    def mutate(self, arch: Arch, rng: np.random.Generator, max_tries: int = 1_000) -> Arch:
        # SearchSpace.mutate's first try, which always succeeds here: for a checked cell (the canonical
        # tuple itself) of the unconstrained space, every change of one op to another is a cell. The
        # same two draws; anything else (a constraint, another tuple) takes the general loop.
        if (type(self).is_valid is SearchSpace.is_valid and self.choices == _CHOICES and type(arch) is tuple
                and _canonical_archs().get(arch) is arch):
            draw = sampler(rng)
            i = draw(6)  # = draw(len(self.choices)); every decision has 5 options, so no retry
            new = draw(4)
            new += new >= arch[i]
            return arch[:i] + (new,) + arch[i + 1 :]
        return super().mutate(arch, rng, max_tries)

    def to_str(self, arch: Arch) -> str:
        # The runner writes two strings per evaluation: each cell's is built once per process.
        arch = self.check(arch)
        try:
            return _STR_CACHE[arch]
        except KeyError:  # = to_str(arch) for a checked cell, from its three node parts
            p1, p2, p3 = _part_strings()
            text = _STR_CACHE[arch] = f"{p1[arch[:1]]}+{p2[arch[1:3]]}+{p3[arch[3:]]}"
            return text

    def from_str(self, text: str) -> Arch:
        return from_str(text)

    def canonical(self, arch: Arch, strict: bool = False) -> str:
        return canonical(self.check(arch), strict)

    def index(self, arch: Arch) -> int:
        return arch_to_index(arch)

    def from_index(self, index: int) -> Arch:
        return index_to_arch(index)

    def params_m(self, arch: Arch, num_classes: int = 10) -> float:
        return params_m(self.check(arch), num_classes)

    def flops_m(self, arch: Arch, num_classes: int = 10, input_size: int = 32) -> float:
        return flops_m(self.check(arch), num_classes, input_size)
