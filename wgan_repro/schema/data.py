"""conf/data: toy mixtures, digits, MNIST-5k and torchvision's data sets (data/)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from wgan_repro.schema.base import knob


@dataclass
class ToyDataConfig:
    _target_: str = MISSING
    std: float = knob(0.02, "standard deviation of each mode, before scaling", gt=0)
    scale: float = knob(1.0, "all points are multiplied by this", gt=0)


@dataclass
class RingDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.Ring"
    n_modes: int = knob(8, "modes evenly spaced on the circle", ge=1)
    radius: float = knob(2.0, "circle radius, before scaling", gt=0)


@dataclass
class GridDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.Grid"
    side: int = knob(5, "modes per side of the square grid", ge=1)
    spacing: float = knob(2.0, "distance between neighbouring modes, before scaling", gt=0)


@dataclass
class SwissRollDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.SwissRoll"
    std: float = knob(0.25, "noise added to the roll (sklearn make_swiss_roll's noise), before scaling", gt=0)


@dataclass
class ImageDataConfig:
    _target_: str = MISSING
    image_size: int = knob(32, "images are resized (and centre-cropped) to image_size x image_size", ge=4)


@dataclass
class DigitsDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.Digits"


@dataclass
class StackedDigitsDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.StackedDigits"


@dataclass
class MNIST5kDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.MNIST5k"
    split: str = knob("train", "train (4,000: 400 per class), test (the 1,000 held out from the classifier) or all")


@dataclass
class StackedMNIST5kDataConfig(MNIST5kDataConfig):
    _target_: str = "wgan_repro.data.images.StackedMNIST5k"


@dataclass
class TorchvisionDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.torchvision_data"
    name: str = knob(MISSING, "mnist | fashion_mnist | cifar10 | celeba | lsun | folder")
    root: str = knob("data", "where the data set lives (or is downloaded to)")
    download: bool = knob(False, "let torchvision download the data set into root when it is missing")
    num_workers: int = knob(2, "DataLoader workers for data sets streamed from disk (celeba, lsun, folder)", ge=0)
    lsun_classes: list[str] = knob(["bedroom_train"], "LSUN categories (the paper: bedroom_train)")
