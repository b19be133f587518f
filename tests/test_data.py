import pickle

import numpy as np
import pytest
import torch
from nasrepro.bench.data import (
    CIFAR_MEAN,
    CIFAR_STD,
    DataSource,
    cifar10_arrays,
    imagenet16,
    load_npz,
    load_source,
    minibatch,
    mnist5k,
    mnist_digits,
    read_npz,
    shared_source,
    split,
    to_tensor,
    torchvision_cifar,
)


def _npz(tmp_path, n=20, **arrays):
    rng = np.random.default_rng(0)
    data = {"x": rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), "y": np.arange(n) % 10}
    data.update(arrays)
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "imgs.npz"
    np.savez(path, **data)
    return path


def test_to_tensor_normalises_per_channel():
    img = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    img[..., 0] = 255
    x = to_tensor(img)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    assert torch.allclose(x[0, 0, 0, 0], torch.tensor((1 - CIFAR_MEAN[0]) / CIFAR_STD[0]))
    assert torch.allclose(x[0, 1, 0, 0], torch.tensor(-CIFAR_MEAN[1] / CIFAR_STD[1]))


def test_load_npz_and_bad_input(tmp_path):
    src = load_npz(_npz(tmp_path), num_classes=10)
    assert len(src) == 20 and src.num_classes == 10 and src.x.shape == (20, 3, 32, 32)
    assert not src.stand_in and "imgs.npz" in src.provenance
    with pytest.raises(ValueError, match="uint8 N x H x W x 3"):
        load_npz(_npz(tmp_path, x=np.zeros((4, 32, 32), dtype=np.uint8), y=np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match="uint8"):
        load_npz(_npz(tmp_path, x=np.zeros((4, 32, 32, 3), dtype=np.float32), y=np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match="no label array"):
        load_npz(_npz(tmp_path, y=None))
    with pytest.raises(ValueError, match="no 'x'"):
        np.savez(tmp_path / "nox.npz", y=np.zeros(3, dtype=int))
        load_npz(tmp_path / "nox.npz")
    with pytest.raises(ValueError, match="length 20"):
        load_npz(_npz(tmp_path, y=np.zeros(5, dtype=int)))
    with pytest.raises(ValueError, match="labels must lie"):
        load_npz(_npz(tmp_path), num_classes=5)
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")


def test_load_npz_keep_labels(tmp_path):
    path = _npz(tmp_path, n=30, y=None, y_clsloc=np.arange(30, dtype=np.int16) * 10 + 1)  # 1, 11, ..., 291
    src = load_npz(path, num_classes=120, keep_labels=(1, 120), label_offset=1)
    assert src.y.tolist() == list(range(0, 120, 10))


def test_minibatch_and_split(tmp_path):
    src = load_npz(_npz(tmp_path, n=100), num_classes=10)
    xb, yb = minibatch(src, 16, np.random.default_rng(1))
    assert xb.shape == (16, 3, 32, 32) and yb.shape == (16,)
    xb2, _ = minibatch(src, 16, np.random.default_rng(1))
    assert torch.equal(xb, xb2)
    with pytest.raises(ValueError):
        minibatch(src, 101, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        minibatch(src, 8)
    a, b = split(src, (60, 30), seed=3)
    assert len(a) == 60 and len(b) == 30
    assert np.bincount(a.y.numpy(), minlength=10).tolist() == [6] * 10  # stratified
    # disjoint: compare raw pixel rows
    ka = {tuple(r.flatten()[:20].tolist()) for r in a.x}
    assert not any(tuple(r.flatten()[:20].tolist()) in ka for r in b.x)
    a2, _ = split(src, (60, 30), seed=3)
    assert torch.equal(a.x, a2.x)
    with pytest.raises(ValueError):
        split(src, (90, 30))


def test_mnist_stand_in():
    src = mnist5k()
    assert src.x.shape == (5000, 3, 32, 32) and src.num_classes == 10
    assert src.stand_in and "stand-in" in src.provenance
    assert np.bincount(src.y.numpy()).tolist() == [500] * 10


def test_mnist_digits_are_the_stand_in_pixels():
    digits, labels = mnist_digits()
    assert digits.shape == (5000, 28, 28) and digits.dtype == np.uint8 and labels.dtype == np.int64
    assert digits.flags.writeable and labels.flags.writeable  # copies: the cache stays intact
    digits[:] = 0
    again, _ = mnist_digits()
    src = mnist5k()  # padded 2 px each side, 3 equal channels, CIFAR-normalised
    grey = src.x[:, 0, 2:30, 2:30] * CIFAR_STD[0] + CIFAR_MEAN[0]
    assert torch.allclose(grey, torch.from_numpy(again).float() / 255, atol=1e-5)
    assert torch.equal(src.y, torch.from_numpy(labels))


def test_read_npz_and_cifar10_arrays(tmp_path, monkeypatch):
    x, y, key = read_npz(_npz(tmp_path))
    assert x.shape == (20, 32, 32, 3) and y.dtype == np.int64 and key == "y"
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        cifar10_arrays()
    folder = tmp_path / "images" / "cifar10"
    folder.mkdir(parents=True)
    for name in ("cifar10_train_10000_jpeg75.npz", "cifar10_test_first1000_exact.npz"):
        (folder / name).write_bytes((tmp_path / "imgs.npz").read_bytes())
    x_tr, y_tr, x_te, y_te, source = cifar10_arrays(tmp_path)
    assert np.array_equal(x_tr, x) and np.array_equal(y_te, y) and source.startswith(str(folder))


def test_imagenet16_official_format(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(1, 11):
        labels = [1, 120, 121, 1000, 5]
        data = rng.integers(0, 256, size=(5, 768), dtype=np.uint8)
        with open(tmp_path / f"train_data_batch_{i}", "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)
    with open(tmp_path / "val_data", "wb") as fh:
        pickle.dump({"data": rng.integers(0, 256, size=(2, 768), dtype=np.uint8), "labels": [3, 999]}, fh)
    train = imagenet16(tmp_path, train=True)
    assert len(train) == 30 and sorted(set(train.y.tolist())) == [0, 4, 119]
    assert train.x.shape == (30, 3, 16, 16) and not train.stand_in
    # channel-planar pickle -> first pixel of channel 0 is data[0, 0]
    with open(tmp_path / "train_data_batch_1", "rb") as fh:
        raw = pickle.load(fh)["data"]
    assert abs(float(train.x[0, 0, 0, 0]) * (63.22 / 255) + 122.68 / 255 - raw[0, 0] / 255.0) < 1e-5
    assert len(imagenet16(tmp_path, train=False)) == 1
    with pytest.raises(FileNotFoundError):
        imagenet16(tmp_path / "nowhere")


def test_torchvision_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="--download"):
        torchvision_cifar(tmp_path, "cifar10", download=False)
    with pytest.raises(ValueError):
        torchvision_cifar(tmp_path, "svhn")


def test_load_source_dispatch(tmp_path, monkeypatch):
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    src = load_source("cifar10")
    assert src.stand_in and "cifar10" in src.provenance
    assert load_source("cifar10", _npz(tmp_path)).num_classes == 10
    with pytest.raises(ValueError):
        load_source("svhn")
    with pytest.raises(FileNotFoundError):
        load_source("cifar10", tmp_path / "nope.npz")


def test_shared_files(shared_data):
    tr = shared_source("cifar10", "train", shared_data)
    te = shared_source("cifar10", "test", shared_data)
    assert len(tr) == 10000 and len(te) == 1000 and not tr.stand_in and not te.stand_in
    assert np.bincount(tr.y.numpy()).tolist() == [1000] * 10
    c100 = shared_source("cifar100", "train", shared_data)
    assert c100.stand_in and c100.num_classes == 100 and set(c100.y.tolist()) == {54, 62, 70, 82, 92}
    im = shared_source("imagenet16-120", "train", shared_data)
    assert (
        im.stand_in and len(im) == 120 and sorted(im.y.tolist()) == list(range(120)) and im.x.shape[-1] == 16
    )
    assert (
        load_source("imagenet16-120", shared_data / "images/imagenet/imagenet1k_samples_box16.npz").y.max()
        == 119
    )
    with pytest.raises(ValueError):
        shared_source("imagenet16-120", "test", shared_data)


def test_datasource_validates():
    with pytest.raises(ValueError):
        DataSource("bad", torch.zeros(3, 3, 4, 4), torch.zeros(2, dtype=torch.long), 10, "x")
