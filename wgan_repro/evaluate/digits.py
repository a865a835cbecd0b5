"""Digit-domain metrics that need no download: a small classifier trained once on scikit-learn's digits.

The classifier (`DigitNet`, 16x16 input, any image size is resized to it) is trained once with a fixed seed
on 80% of the 1,797 digits, its held-out accuracy is kept beside its weights in the cache directory, and it is
registered in torch-fidelity as the feature extractor `digits-cnn`, so that its FID (metrics.FID_DIGITS) is a Fréchet
distance computed by the same code as FID. Features: `128` (the penultimate layer of the first channel:
one-channel digits arrive repeated to three channels) and `384` (the three channels' features side by side,
for stacked digits). On stacked digits the argmax per channel names one of 1,000 modes (VEEGAN, PacGAN).
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from wgan_repro.data.images import load_digits_tensor
from wgan_repro.evaluate import metrics as M
from wgan_repro.evaluate.inception import cache_dir

log = logging.getLogger(__name__)

EXTRACTOR = "digits-cnn"
INPUT_SIZE = 16
MIN_ACCURACY = 0.97
RECIPE = "v2-seed0-80/20-sizes8,16,32-epochs30"  # change when the training recipe changes: the cache follows


class DigitNet(nn.Module):
    """(B, 1, S, S) floats in [0, 1], resized to 16x16 -> (features (B, 128), logits (B, 10))."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 8, 8)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 4, 4)
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU())  # (B, 128)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        h = self.body(x)
        return h, self.head(h)


def _training_set(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits rendered at 8, 16 and 32 pixels (as the data pipeline renders them), split 80/20 by a fixed seed."""
    images, labels = load_digits_tensor(8)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    n_train = int(0.8 * len(images))
    parts = []
    for idx in (order[:n_train], order[n_train:]):
        xs = [load_digits_tensor(s)[0][idx].float().div(255) for s in (8, 16, 32)]
        x = torch.cat([F.interpolate(v, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
                       for v in xs])
        parts += [x, labels[idx].repeat(3)]
    return parts[0], parts[1], parts[2], parts[3]


def train_classifier(seed: int = 0, epochs: int = 30) -> tuple[DigitNet, float]:
    """Train DigitNet on the digits with a fixed seed; returns it and its held-out accuracy."""
    x_train, y_train, x_test, y_test = _training_set(seed)
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)  # layer init; the caller's RNG stream is restored below
    net = DigitNet()
    torch.set_rng_state(torch_state)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=gen).split(128):
            x = x_train[idx]
            shift = torch.randint(-1, 2, (2,), generator=gen).tolist()  # translations of up to one pixel
            x = torch.roll(x, shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(net(x)[1], y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x_test)[1].argmax(1) == y_test).float().mean())
    return net, accuracy


def classifier_path() -> str:
    return cached_path("digit_classifier", RECIPE)


def cached_path(stem: str, recipe: str) -> str:
    """Where a classifier trained by `recipe` is cached (a new recipe: a new file)."""
    return str(cache_dir() / f"{stem}-{recipe.replace('/', '_').replace(',', '_')}.pt")


def cached_classifier(path: str, make: Callable[[], nn.Module], train: Callable[[], tuple[nn.Module, float]],
                      min_accuracy: float, recipe: str) -> tuple[nn.Module, float]:
    """The classifier cached at `path` and its held-out accuracy; trained by `train` the first time, and refused
    (not cached) below `min_accuracy`."""
    if os.path.isfile(path):
        saved = torch.load(path, map_location="cpu", weights_only=True)
        net = make()
        net.load_state_dict(saved["state_dict"])
        return net.eval(), float(saved["accuracy"])
    log.info("training a classifier once (cached in %s)", path)
    net, accuracy = train()
    if accuracy < min_accuracy:
        raise RuntimeError(f"{path}: held-out accuracy {accuracy:.4f} < {min_accuracy}: not cached")
    log.info("classifier held-out accuracy %.4f (refused below %s)", accuracy, min_accuracy)
    tmp = path + ".tmp"
    torch.save({"state_dict": net.state_dict(), "accuracy": accuracy, "recipe": recipe}, tmp)
    os.replace(tmp, path)
    return net.eval(), accuracy


def load_classifier() -> tuple[DigitNet, float]:
    """The cached digit classifier and its held-out accuracy, trained (seconds) the first time."""
    return cached_classifier(classifier_path(), DigitNet, train_classifier, MIN_ACCURACY, RECIPE)


class DigitFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity feature extractor over uint8 (B, 3, H, W) images of digits; see the module docstring.
    Subclasses name another classifier through `load` (its network returns (features (B, 128), logits (B, 10)))."""

    load = staticmethod(load_classifier)

    def __init__(self, name: str, features_list: list[str], **kwargs) -> None:
        super().__init__(name, features_list)
        self.net, self.accuracy = self.load()
        self.requires_grad_(False)
        self.eval()

    def per_channel(self, x: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (B, channels, 128), logits (B, channels, 10)) of the first `channels` channels."""
        b = x.shape[0]
        planes = x[:, :channels].float().div(255).reshape(b * channels, 1, *x.shape[2:])
        h, logits = self.net(planes)
        return h.view(b, channels, -1), logits.view(b, channels, -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        assert x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3, f"expected uint8 Bx3xHxW, got {x.shape}"
        out = {}
        if "128" in self.features_list or "logits" in self.features_list:
            h, logits = self.per_channel(x, 1)
            out["128"], out["logits"] = h[:, 0], logits[:, 0]
        if "384" in self.features_list or "logits3" in self.features_list:
            h, logits = self.per_channel(x, 3)
            out["384"], out["logits3"] = h.flatten(1), logits.flatten(1)
        return tuple(out[f] for f in self.features_list)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "128", "logits", "384", "logits3"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"fid": "128", "kid": "128", "prc": "128"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)


LOGITS = {"128": "logits", "384": "logits3"}  # the logits that come with each feature layer


def register(name: str = EXTRACTOR, cls: type[FeatureExtractorBase] = DigitFeatureExtractor) -> None:
    """Register a classifier's feature extractor (default `digits-cnn`) in torch-fidelity's registry (idempotent)."""
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, cls)


@torch.no_grad()
def stacked_mode_metrics(logits3: torch.Tensor) -> dict[str, float]:
    """Modes covered (M.MODES) and M.KL_MODES from per-channel logits (N, 30): mode = 100 d0 + 10 d1 + d2 of the
    argmaxes; KL(p_gen || uniform over 1,000), natural log (0 is perfect, log 1000 = 6.91 is one mode)."""
    digits = logits3.view(len(logits3), 3, 10).argmax(-1)  # (N, 3)
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(modes, minlength=1000).double()
    return {M.MODES.key: int((counts > 0).sum()), M.KL_MODES.key: kl_to_uniform(counts)}


@torch.no_grad()
def class_metrics(logits: torch.Tensor, min_share: float = 0.01) -> dict[str, float]:
    """Classes covered (M.CLASSES: predicted for at least `min_share` of the samples, of 10) and M.KL_CLASSES =
    KL(predicted-class histogram || uniform over 10), natural log (0: balanced, log 10 = 2.30: one class), from the
    first channel's logits (N, 10 or more)."""
    counts = torch.bincount(logits[:, :10].argmax(-1), minlength=10).double()
    return {M.CLASSES.key: int((counts / counts.sum() >= min_share).sum()), M.KL_CLASSES.key: kl_to_uniform(counts)}


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform over len(counts)) of the histogram `counts`, natural log."""
    p = counts / counts.sum()
    return float((p[p > 0] * torch.log(p[p > 0] * len(counts))).sum())
