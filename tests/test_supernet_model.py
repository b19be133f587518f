"""The SPOS supernet: official structure (keys, params), split path, arch checks."""

from __future__ import annotations

import pytest
import torch
from nasrepro.bench.supernet.configs import CONFIGS, get_config
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot, block_specs, channel_shuffle

ARCH10 = (0, 1, 2, 3, 3, 2, 1, 0, 1, 3)


@pytest.fixture(scope="module")
def small() -> ShuffleNetV2OneShot:
    return ShuffleNetV2OneShot("cifar10-small", seed=0).eval()


def test_imagenet_structure_matches_official_keys_and_params() -> None:
    # Numbers from instantiating the official src/Supernet/network.py (spos_repo_defaults.csv).
    net = ShuffleNetV2OneShot("imagenet")
    sd = net.state_dict()
    assert len(sd) == 1337
    assert sum(p.numel() for p in net.parameters()) == 8_388_176
    proj_blocks = sorted({int(k.split(".")[1]) for k in sd if ".branch_proj." in k})
    assert proj_blocks == [0, 4, 8, 16]
    assert "first_conv.1.running_mean" in sd and "conv_last.0.weight" in sd
    assert "classifier.0.weight" in sd and "classifier.0.bias" not in sd
    # BN without affine parameters everywhere in the supernet
    assert all(not m.affine for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(k.endswith(".bias") for k in sd)
    # first block of stage 1: 16 in, main branch outputs 64-16=48 channels
    assert tuple(sd["features.0.0.branch_main.5.weight"].shape) == (48, 32, 1, 1)
    assert tuple(sd["features.1.3.branch_main.0.weight"].shape) == (32, 1, 3, 3)  # depthwise, C/2 in
    assert [s[3] for s in block_specs(get_config("imagenet"))] == [2, 1, 1, 1] * 2 + [2] + [1] * 7 + [
        2,
        1,
        1,
        1,
    ]


def test_forward_shapes_all_configs() -> None:
    for name in ("cifar10-small", "mnist-small"):
        cfg = CONFIGS[name]
        net = ShuffleNetV2OneShot(name).eval()
        x = torch.randn(8, cfg.in_channels, cfg.input_size, cfg.input_size)
        assert net(x, (3,) * cfg.n_blocks).shape == (8, cfg.num_classes)


def test_split_path_equals_whole(small: ShuffleNetV2OneShot) -> None:
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = small(x, ARCH10)
        for k in range(small.n_blocks + 1):
            split = small.forward_suffix(small.forward_prefix(x, ARCH10, k), ARCH10, k)
            torch.testing.assert_close(split, whole, rtol=0, atol=0)


def test_channel_shuffle_splits_even_and_odd_channels() -> None:
    x = torch.arange(8.0).view(1, 8, 1, 1).expand(2, 8, 3, 3).contiguous()
    a, b = channel_shuffle(x)
    assert a[0, :, 0, 0].tolist() == [0, 2, 4, 6]
    assert b[0, :, 0, 0].tolist() == [1, 3, 5, 7]


def test_bad_architectures_raise(small: ShuffleNetV2OneShot) -> None:
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="10 blocks"):
        small(x, (0,) * 20)
    with pytest.raises(ValueError, match="outside"):
        small(x, (4,) + (0,) * 9)
    with pytest.raises(ValueError, match="prefix length"):
        small.forward_prefix(x, ARCH10, 11)


def test_init_is_seeded() -> None:
    a = ShuffleNetV2OneShot("mnist-small", seed=3).state_dict()
    b = ShuffleNetV2OneShot("mnist-small", seed=3).state_dict()
    c = ShuffleNetV2OneShot("mnist-small", seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["first_conv.0.weight"], c["first_conv.0.weight"])


def test_unknown_config() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        get_config("resnet")
