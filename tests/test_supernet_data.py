"""Supernet data: OpenCV-exact resize, both ImageNet preprocessings on real images, splits, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nasrepro.bench.supernet.data import (
    ArrayImages,
    StepBatchSampler,
    ToBGRTensor,
    image_folder,
    load_cifar10,
    load_data,
    load_mnist5k,
    opencv_resize_linear,
    opencv_short_side_size,
    train_loader,
)
from PIL import Image


@pytest.fixture(scope="module")
def val100(shared_data: Path) -> Path:
    path = shared_data / "images" / "imagenet" / "val100"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


def _random_image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(375, 500), (500, 371), (170, 170), (206, 250), (31, 47), (300, 257)])
def test_opencv_resize_is_bit_exact(shape: tuple[int, int]) -> None:
    cv2 = pytest.importorskip("cv2")
    img = _random_image(*shape, seed=sum(shape))
    w, h = opencv_short_side_size(shape[0], shape[1], 256)
    ours = opencv_resize_linear(img, w, h)
    ref = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    assert ours.shape == ref.shape
    assert np.array_equal(ours, ref)


def test_opencv_resize_bit_exact_on_real_images(val100: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    for path in sorted(val100.glob("*/*"))[::10]:
        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
        w, h = opencv_short_side_size(img.shape[0], img.shape[1], 256)
        assert np.array_equal(
            opencv_resize_linear(img, w, h), cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        )


def test_opencv_resize_close_to_float_bilinear_without_cv2() -> None:
    # runs without OpenCV: the fixed-point result is within one grey level of exact half-pixel bilinear
    img = _random_image(120, 90, seed=1)
    ours = opencv_resize_linear(img, 60, 80).astype(int)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].double()
    ref = torch.nn.functional.interpolate(t, size=(80, 60), mode="bilinear", align_corners=False)
    ref = ref[0].permute(1, 2, 0).round().numpy().astype(int)
    assert np.abs(ours - ref).max() <= 1


def test_opencv_short_side_matches_official_formula() -> None:
    assert opencv_short_side_size(375, 500, 256) == (341, 256)
    assert opencv_short_side_size(500, 371, 256) == (256, 345)


def test_bgr_tensor_is_bgr_0_255() -> None:
    img = np.zeros((2, 2, 3), dtype=np.uint8)
    img[..., 0] = 200  # red
    t = ToBGRTensor()(Image.fromarray(img))
    assert t.dtype == torch.float32 and t.shape == (3, 2, 2)
    assert t[2].eq(200).all() and t[0].eq(0).all()


def test_imagenet_val100_both_preprocessings(val100: Path, shared_data: Path) -> None:
    spos = image_folder(val100, "spos")
    std = image_folder(val100, "standard")
    assert len(spos) == len(std) == 100
    x_spos, y = spos[0]
    x_std, _ = std[0]
    assert x_spos.shape == x_std.shape == (3, 224, 224)
    assert 0 <= float(x_spos.min()) and float(x_spos.max()) <= 255 and float(x_spos.max()) > 1
    assert float(x_std.min()) < 0  # normalised
    # spos = official pipeline: BGR of the centre crop of the OpenCV-resized image
    with Image.open(spos.paths[0]) as im:
        arr = np.asarray(im.convert("RGB"))
    w, h = opencv_short_side_size(arr.shape[0], arr.shape[1], 256)
    small = opencv_resize_linear(arr, w, h)
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    crop = small[top : top + 224, left : left + 224, ::-1].transpose(2, 0, 1)
    assert torch.equal(x_spos, torch.from_numpy(crop.copy()).float())
    # labels: without a class list, the 100 sorted folders; with the 1,000 wnids, the standard index
    assert (y, spos[99][1]) == (0, 99)
    cc = shared_data / "images" / "imagenet" / "imagenet1k_samples_cc64.npz"
    if cc.exists():
        wnids = sorted(str(w) for w in np.load(cc)["wnid"])
        full = image_folder(val100, "spos", classes=wnids)
        assert full[1][1] == wnids.index(full.paths[1].parent.name) == 10  # every 10th class


def test_training_view_is_a_function_of_the_seed(val100: Path) -> None:
    ds = image_folder(val100, "spos", train=True)
    state = torch.random.get_rng_state()
    a, b, c = ds[(3, 7)][0], ds[(3, 7)][0], ds[(3, 8)][0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(state, torch.random.get_rng_state())  # global generator untouched


def test_bad_image_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class subfolders"):
        image_folder(tmp_path)
    (tmp_path / "n000").mkdir()
    (tmp_path / "n000" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="ImageNet"):
        load_data("imagenet", tmp_path)
    with pytest.raises(FileNotFoundError, match="needs --data-root"):
        load_data("imagenet")


def test_cifar10_splits(shared_data: Path) -> None:
    d = load_cifar10(seed=0)
    assert (len(d.train), len(d.search_val), len(d.test)) == (9000, 1000, 1000)
    tr = set(d.train.indices.tolist())
    assert not tr & set(d.search_val.indices.tolist())
    assert d.train[0][0].shape == (3, 32, 32)
    other = load_cifar10(seed=1)
    assert not np.array_equal(other.search_val.indices, d.search_val.indices)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        load_cifar10(Path("/nonexistent"))


def test_mnist5k_splits_offline() -> None:
    d = load_mnist5k(seed=0)
    assert (len(d.train), len(d.search_val), len(d.test)) == (4000, 500, 500)
    x, y = d.test[0]
    assert x.shape == (1, 32, 32) and 0 <= y < 10
    assert np.bincount(d.train.labels, minlength=10).min() > 300


def test_step_batches_resume_and_shard() -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    ds = ArrayImages(x, np.arange(50) % 10, (0.5,) * 3, (0.25,) * 3, augment=True)
    full = [b for b, _ in train_loader(ds, 8, seed=3, n_steps=9)]
    resumed = [b for b, _ in train_loader(ds, 8, seed=3, start_step=5, n_steps=4)]
    for a, b in zip(full[5:], resumed):
        assert torch.equal(a, b)
    halves = [StepBatchSampler(50, 8, 3, rank=r, world=2).step_batch(7) for r in (0, 1)]
    assert halves[0] + halves[1] == StepBatchSampler(50, 8, 3).step_batch(7)
    with pytest.raises(ValueError, match="divisible"):
        StepBatchSampler(50, 9, 0, world=2)
    # 6 steps per epoch: no index repeats inside an epoch
    epoch = [i for s in range(6) for i, _ in StepBatchSampler(50, 8, 3).step_batch(s)]
    assert len(set(epoch)) == 48


def test_imagenet_sample_folder_serves_every_split_for_a_speed_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for wnid in ("n01440764", "n01530575"):
        (tmp_path / wnid).mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(tmp_path / wnid / f"{k}.JPEG")
    d = load_data("imagenet", tmp_path)
    assert d.num_classes == 1000  # the config's head; labels index the sample's own folders
    assert len(d.train) == len(d.search_val) == len(d.test) == 6
    assert "speed/energy check only" in d.source
    x, y = d.search_val[5]
    assert tuple(x.shape) == (3, 224, 224) and y == 1
    assert torch.equal(d.test[5][0], x)  # search-val and test are the same images


def test_imagenet_val100_sample_loads(val100: Path) -> None:
    d = load_data("imagenet", val100)
    assert len(d.search_val) == 100 and "100 classes" in d.source
