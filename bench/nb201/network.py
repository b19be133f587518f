"""The NAS-Bench-201 cell network, with the official macro skeleton and cell ops.

Written from a reading of the official code (D-X-Y/AutoDL-Projects:
``lib/models/cell_infers/tiny_network.py``, ``cells.py``, ``lib/models/cell_operations.py``):

* stem: 3x3 conv (in -> C, no bias) + BatchNorm;
* three stages of ``N`` cells with ``C``, ``2C``, ``4C`` channels; between stages a residual
  reduction block (ReLU-conv3x3/s2-BN, ReLU-conv3x3-BN, shortcut avgpool2x2 + conv1x1);
* ``lastact`` BatchNorm + ReLU, global average pooling, a linear classifier.

Cell: 4 nodes, node ``j`` is the sum over ``i < j`` of ``op(node i)`` on edge ``"j<-i"``; every edge
keeps its module even when its op is ``none`` (the official ``InferCell`` builds all six).
Ops (as the official inference cell: BatchNorm with ``affine=True, track_running_stats=True``):
``nor_conv_kxk`` = ReLU -> conv (no bias) -> BN; ``avg_pool_3x3`` = AvgPool(3, stride 1, pad 1,
``count_include_pad=False``), no pre-processing since inside a cell C_in == C_out; ``skip_connect`` =
identity; ``none`` = ``x * 0`` (the official ``Zero``: the output is an all-zero tensor that keeps the
autograd graph to its input, so gradients through it are exactly zero and a NaN input stays NaN).

Differences from the official module, on purpose: ``forward`` returns the logits only (the official one
returns ``(features, logits)``; :meth:`NB201Network.forward_features` gives the pooled features), the
final ReLU is not in-place (so that forward hooks of proxies see the activation), and each cell keeps
its edge ops in a ``ModuleDict`` keyed ``"1<-0" ... "3<-2"`` so a weight pool can address them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from nasrepro.bench.nb201.space import EDGES as _SPACE_EDGES
from nasrepro.bench.nb201.space import OPS
from nasrepro.bench.nb201.space import from_str as _from_str
from torch import nn

# The space is the single source of op and edge order; edges are addressed by "j<-i" here.
EDGES: tuple[str, ...] = tuple(f"{j}<-{i}" for j, i in _SPACE_EDGES)

ArchLike = Sequence[int] | str


# ---------------------------------------------------------------------------------------------
# architecture codec (local: accepts an index tuple or the official string)
# ---------------------------------------------------------------------------------------------
def arch_ops(arch: ArchLike) -> tuple[str, ...]:
    """The six op names of ``arch`` in EDGES order; ``arch`` is 6 op indices or the official string."""
    if isinstance(arch, str):
        return tuple(OPS[c] for c in _from_str(arch))
    idx = tuple(int(c) for c in arch)
    if len(idx) != len(EDGES) or not all(0 <= c < len(OPS) for c in idx):
        raise ValueError(
            f"NB201 architecture {tuple(arch)} must be {len(EDGES)} op indices in 0..{len(OPS) - 1}"
        )
    return tuple(OPS[c] for c in idx)


# ---------------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------------
def _norm(channels: int, bn: bool) -> nn.Module:
    """BatchNorm2d (affine, running stats, as the official inference cell), or nothing when ``bn`` is
    off: the BN-free copy the zero-cost reference scores synflow on (same module positions, so the
    conv/linear weights keep their state-dict keys)."""
    return nn.BatchNorm2d(channels, affine=True, track_running_stats=True) if bn else nn.Identity()


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the official order."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, bn: bool = True
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            _norm(c_out, bn),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class AvgPool3x3(nn.Module):
    """``avg_pool_3x3`` inside a cell (C_in == C_out, so no 1x1 pre-processing)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """``none``: ``x * 0``, as the official op (zero output, zero gradient, NaN propagates)."""

    is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int, bn: bool = True) -> nn.Module:
    """One cell edge op with ``channels`` in and out, stride 1 (the only case in NB201 cells)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, bn)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, bn)
    if name == "avg_pool_3x3":
        return AvgPool3x3(1)
    raise ValueError(f"unknown NB201 op {name!r}; choose one of {OPS}")


class ResNetBasicblock(nn.Module):
    """The reduction block between stages (stride 2, channels doubled), official layout."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, bn: bool = True) -> None:
        super().__init__()
        if stride != 2:
            raise ValueError("NB201 reduction blocks have stride 2")
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, bn)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, bn)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )
        self.in_dim, self.out_dim, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Cell(nn.Module):
    """A 4-node cell; ``edges["j<-i"]`` is the op from node i to node j."""

    def __init__(self, ops: Sequence[str], channels: int, bn: bool = True) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.in_dim = self.out_dim = channels
        self.edges = nn.ModuleDict({e: make_op(op, channels, bn) for e, op in zip(EDGES, self.ops)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, 4):
            terms = [self.edges[f"{j}<-{i}"](nodes[i]) for i in range(j)]
            out = terms[0]
            for t in terms[1:]:
                out = out + t
            nodes.append(out)
        return nodes[-1]


@dataclass(frozen=True)
class Block:
    """One addressable block of a network, with the identity a weight pool keys on.

    ``kind``: ``stem``, ``edge`` (a cell op), ``reduction`` or ``head`` (lastact + classifier).
    ``stage`` 0..2 (reductions: the stage they lead into), ``cell`` index within the stage (-1 when
    not a cell), ``edge`` ``"j<-i"`` or ``""``; shapes are (C, H, W) for the given image size.
    """

    kind: str
    op: str
    stage: int
    cell: int
    edge: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    module: nn.Module

    @property
    def key(self) -> str:
        shape_in = "x".join(map(str, self.in_shape))
        shape_out = "x".join(map(str, self.out_shape))
        return f"{self.kind}:{self.op}:{shape_in}->{shape_out}:s{self.stage}:c{self.cell}:{self.edge or '-'}"

    @property
    def has_params(self) -> bool:
        return any(True for _ in self.module.parameters())


class NB201Network(nn.Module):
    """The NB201 network (``TinyNetwork`` of the official code); ``forward`` returns logits."""

    def __init__(
        self,
        arch: ArchLike,
        num_classes: int = 10,
        C: int = 16,
        N: int = 5,
        in_channels: int = 3,
        bn: bool = True,
    ) -> None:
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(
                f"NB201 network needs C, N, num_classes, in_channels >= 1 (got {C}, {N}, {num_classes}, {in_channels})"
            )
        self.arch_ops = arch_ops(arch)
        self.C, self.N, self.num_classes, self.in_channels, self.bn = C, N, num_classes, in_channels, bn
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), _norm(C, bn))
        # Same flat list as the official network: N cells, reduction, N cells, reduction, N cells.
        self.cells = nn.ModuleList()
        self.positions: list[tuple[int, int]] = []  # (stage, cell within stage or -1 for a reduction)
        c_prev = C
        for stage in range(3):
            c_cur = C * 2**stage
            if stage > 0:
                self.cells.append(ResNetBasicblock(c_prev, c_cur, 2, bn))
                self.positions.append((stage, -1))
            for k in range(N):
                self.cells.append(NB201Cell(self.arch_ops, c_cur, bn))
                self.positions.append((stage, k))
            c_prev = c_cur
        self.lastact = nn.Sequential(_norm(c_prev, bn), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out)
        return self.global_pooling(self.lastact(out)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def cell(self, stage: int, k: int) -> NB201Cell:
        """The ``k``-th search cell of ``stage`` (0-based)."""
        return self.cells[self.positions.index((stage, k))]  # type: ignore[return-value]

    def blocks(self, image_size: int = 32) -> list[Block]:
        """Every block with its pool identity, in forward order (see :class:`Block`)."""
        in_c = self.stem[0].in_channels
        out: list[Block] = [
            Block(
                "stem",
                "conv3x3_bn",
                0,
                -1,
                "",
                (in_c, image_size, image_size),
                (self.C, image_size, image_size),
                self.stem,
            )
        ]
        size = image_size
        for module, (stage, k) in zip(self.cells, self.positions):
            if k < 0:
                assert isinstance(module, ResNetBasicblock)
                new = (size + 1) // 2
                out.append(
                    Block(
                        "reduction",
                        "resblock",
                        stage,
                        -1,
                        "",
                        (module.in_dim, size, size),
                        (module.out_dim, new, new),
                        module,
                    )
                )
                size = new
                continue
            assert isinstance(module, NB201Cell)
            shape = (module.out_dim, size, size)
            for edge, op in zip(EDGES, module.ops):
                out.append(Block("edge", op, stage, k, edge, shape, shape, module.edges[edge]))
        c_last = self.classifier.in_features
        head = nn.ModuleDict({"lastact": self.lastact, "classifier": self.classifier})
        out.append(
            Block(
                "head",
                f"linear{self.num_classes}",
                2,
                -1,
                "",
                (c_last, size, size),
                (self.num_classes,),
                head,
            )
        )
        return out

    def edge_modules(self) -> Iterator[tuple[int, int, str, nn.Module]]:
        """(stage, cell, edge, module) for every cell edge."""
        for module, (stage, k) in zip(self.cells, self.positions):
            if k >= 0:
                for edge in EDGES:
                    yield stage, k, edge, module.edges[edge]


def build_nb201_net(
    arch: ArchLike,
    num_classes: int = 10,
    C: int = 16,
    N: int = 5,
    in_channels: int = 3,
    seed: int | None = None,
    bn: bool = True,
) -> NB201Network:
    """Build the network; PyTorch default initialisation.

    With ``seed`` the initialisation is drawn from a private RNG stream (the global RNG state is
    saved and restored around the build), so the same seed gives the same weights. ``bn=False``
    builds it without any BatchNorm (see :func:`prunable_copy`).
    """
    ctx = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with ctx:
        if seed is not None:
            torch.manual_seed(int(seed))
        return NB201Network(arch, num_classes=num_classes, C=C, N=N, in_channels=in_channels, bn=bn)


def prunable_copy(net: NB201Network, bn: bool) -> NB201Network:
    """A copy of ``net`` with (``bn=True``) or without (``bn=False``) BatchNorm, carrying its conv and
    linear weights (and BN state where both have BN), same dtype and device. The zero-cost reference
    scores synflow on such a BN-free copy (its ``get_prunable_copy(bn=False)``)."""
    ref = next(net.parameters())
    arch = tuple(OPS.index(o) for o in net.arch_ops)
    new = NB201Network(arch, net.num_classes, net.C, net.N, net.in_channels, bn=bn)
    new = new.to(device=ref.device, dtype=ref.dtype)
    missing, unexpected = new.load_state_dict(net.state_dict(), strict=False)
    # only BatchNorm entries may differ between the two
    if any(not _is_bn_key(new, k) for k in missing) or any(not _is_bn_key(net, k) for k in unexpected):
        raise RuntimeError(f"prunable_copy: weights do not line up ({missing[:3]}, {unexpected[:3]})")
    return new


def _is_bn_key(net: nn.Module, key: str) -> bool:
    return isinstance(net.get_submodule(key.rsplit(".", 1)[0]), nn.BatchNorm2d)


# ---------------------------------------------------------------------------------------------
# cost measures
# ---------------------------------------------------------------------------------------------
_OP_PARAMS = {
    "none": lambda c: 0,
    "skip_connect": lambda c: 0,
    "avg_pool_3x3": lambda c: 0,
    "nor_conv_1x1": lambda c: c * c + 2 * c,  # conv weight + BN weight/bias
    "nor_conv_3x3": lambda c: 9 * c * c + 2 * c,
}


def count_params(arch: ArchLike, num_classes: int = 10, C: int = 16, N: int = 5, in_channels: int = 3) -> int:
    """Trainable parameters of :func:`build_nb201_net` without building it (equal to
    ``sum(p.numel() for p in net.parameters())``; the test checks both on a sample)."""
    ops = arch_ops(arch)
    total = 9 * in_channels * C + 2 * C  # stem conv + BN
    for stage in range(3):
        c = C * 2**stage
        if stage > 0:
            c_in = c // 2
            total += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c + c_in * c  # conv_a, conv_b, shortcut 1x1
        total += N * sum(_OP_PARAMS[op](c) for op in ops)
    c_last = 4 * C
    return total + 2 * c_last + c_last * num_classes + num_classes  # lastact BN + classifier


def count_flops(net: nn.Module, image_size: int = 32, in_channels: int = 3) -> int:
    """FLOPs of one forward pass of one image, as ``torch.utils.flop_counter.FlopCounterMode``
    counts them (2 per multiply-add, convolutions and matrix products only; BN, pooling and
    ReLU are not counted). Half of it is the official NB201 ``flops`` convention (multiply-adds of
    convolutions and the classifier): see :func:`flops_m`."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = net.training
    net.eval()
    try:
        x = torch.zeros(1, in_channels, image_size, image_size)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(x)
    finally:
        net.train(was_training)
    return int(counter.get_total_flops())


def flops_m(net: nn.Module, image_size: int = 32, in_channels: int = 3) -> float:
    """Millions of multiply-adds, the unit of the official NB201 ``flops`` (``count_flops / 2``;
    e.g. 113.95136 for a cell with three 3x3 convs, where the official cost info says 113.95137)."""
    return count_flops(net, image_size, in_channels) / 2e6
