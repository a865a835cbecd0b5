"""MNIST-domain metrics with no download: a classifier trained once on mnist_5k's training split.

`MnistNet` (a LeNet-style CNN, 32x32 input: any image size is resized to it) is trained with a fixed seed on
the 4,000 training images of mnist_5k (data.images.load_mnist5k), each also seen after a round trip through
16x16 (as data.image_size=16 renders it), with random shifts of up to 2 pixels. Its accuracy on the 1,000
held-out images, which it never sees, is kept beside its weights; below MIN_ACCURACY it is refused. It is
registered in torch-fidelity as the feature extractor `mnist-cnn` (same features as `digits-cnn`: `128` and
`logits` of the first channel, `384` and `logits3` of the three), so its FID (metrics.FID_MNIST) is torch-fidelity's
Fréchet distance in its penultimate features, and its argmax counts classes (MNIST) or modes (Stacked MNIST).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wgan_repro.data.images import load_mnist5k, pad_and_resize
from wgan_repro.evaluate.digits import DigitFeatureExtractor, cached_classifier, cached_path

EXTRACTOR = "mnist-cnn"
INPUT_SIZE = 32
MIN_ACCURACY = 0.98  # on the 1,000 held-out images; the recipe below reached 0.986 (README, "Real MNIST offline")
RECIPE = "v1-mnist5k-train4000-seed0-sizes32,16-shift2-epochs12"  # change with the recipe: the cache follows


class MnistNet(nn.Module):
    """(B, 1, S, S) floats in [0, 1], resized to 32x32 -> (features (B, 128), logits (B, 10))."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 16, 16)
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 8, 8)
            nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU())  # (B, 128)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > INPUT_SIZE)
        h = self.body(x)
        return h, self.head(self.dropout(h))


def split_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of mnist_5k as floats in [0, 1], (N, 1, 32, 32), and its labels."""

    images, labels = load_mnist5k(split)
    return pad_and_resize(images, INPUT_SIZE).float() / 255, labels


def shifted(x: torch.Tensor, gen: torch.Generator, most: int = 2) -> torch.Tensor:
    """Each image translated by its own random (dy, dx) in [-most, most] (zero fill: the digits sit in a border)."""
    pad = F.pad(x, (most,) * 4)
    dy, dx = torch.randint(0, 2 * most + 1, (2, len(x)), generator=gen)
    rows = (dy[:, None] + torch.arange(x.shape[-2]))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(x.shape[-1]))[:, None, None, :]  # (B, 1, 1, W)
    return pad[torch.arange(len(x))[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def train_classifier(seed: int = 0, epochs: int = 12) -> tuple[MnistNet, float]:
    """Train MnistNet on the training split with a fixed seed; returns it and its accuracy on the held-out split."""
    x, y = split_tensors("train")
    small = F.interpolate(F.interpolate(x, size=16, mode="bilinear", antialias=True), size=INPUT_SIZE,
                          mode="bilinear")  # what data.image_size=16 shows the classifier
    x, y = torch.cat([x, small]), torch.cat([y, y])
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)  # layer init and dropout; the caller's RNG stream is restored below
    net = MnistNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = -(-len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * batches)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=gen).split(128):
            loss = F.cross_entropy(net(shifted(x[idx], gen))[1], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    torch.set_rng_state(torch_state)
    return net.eval(), held_out_accuracy(net)


@torch.no_grad()
def held_out_accuracy(net: MnistNet) -> float:
    """Accuracy on mnist_5k's 1,000 held-out images (the `test` split)."""
    x, y = split_tensors("test")
    return float((net.eval()(x)[1].argmax(1) == y).float().mean())


def classifier_path() -> str:
    return cached_path("mnist_classifier", RECIPE)


def load_classifier() -> tuple[MnistNet, float]:
    """The cached MNIST classifier and its held-out accuracy, trained (about a minute on 2 cores) the first time."""
    return cached_classifier(classifier_path(), MnistNet, train_classifier, MIN_ACCURACY, RECIPE)


class MnistFeatureExtractor(DigitFeatureExtractor):
    """`mnist-cnn`: DigitFeatureExtractor's features, from MnistNet."""

    load = staticmethod(load_classifier)

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)
