"""Image models (shapes, parameter counts against the official code), image data, sample grids."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
import torch
from conftest import TINY, compose
from mlflow.tracking import MlflowClient
from PIL import Image

from wgan_repro.config import ConfigError
from wgan_repro.constraints import Clip
from wgan_repro.data.images import Digits, StackedDigits, torchvision_data
from wgan_repro.models import n_params
from wgan_repro.models.dcgan import ConstantFilterGenerator, DCGANCritic, DCGANGenerator
from wgan_repro.models.mlp import MLPCritic, MLPGenerator
from wgan_repro.runs.runner import run

IMG64 = (3, 64, 64)
IMG32 = (3, 32, 32)

# Parameter counts of the official classes (martinarjovsky/WassersteinGAN), nz 100, nc 3, ngf = ndf = 64,
# MLP width 512, counted by instantiating them (../shared/FIDELITY.md).
OFFICIAL = [
    (lambda s: DCGANGenerator(100, 64, 0, s, batch_norm=True), IMG64, 3_576_704),
    (lambda s: DCGANCritic(64, 0, s, batch_norm=True), IMG64, 2_765_568),
    (lambda s: DCGANGenerator(100, 64, 0, s, batch_norm=False), IMG64, 3_574_784),
    (lambda s: DCGANCritic(64, 0, s, batch_norm=False), IMG64, 2_763_776),
    (lambda s: MLPGenerator(100, 512, 3, s), IMG64, 6_880_768),
    (lambda s: MLPCritic(512, 3, s), IMG64, 6_817_793),
    (lambda s: DCGANGenerator(100, 64, 0, s, batch_norm=True), IMG32, 1_068_928),
    (lambda s: DCGANCritic(64, 0, s, batch_norm=True), IMG32, 663_296),
    (lambda s: DCGANGenerator(100, 64, 0, s, batch_norm=False), IMG32, 1_068_032),
    (lambda s: DCGANCritic(64, 0, s, batch_norm=False), IMG32, 662_528),
    (lambda s: MLPGenerator(100, 512, 3, s), IMG32, 2_152_960),
    (lambda s: MLPCritic(512, 3, s), IMG32, 2_099_201),
]


@pytest.mark.parametrize("make,shape,expected", OFFICIAL)
def test_parameter_counts_match_the_official_code(make, shape, expected) -> None:
    assert n_params(make(shape)) == expected


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_shapes_at_every_power_of_two(size: int) -> None:
    z = torch.randn(2, 100)
    for gen in (DCGANGenerator(100, 16, 1, (3, size, size)), DCGANGenerator(100, 16, 0, (1, size, size), False),
                ConstantFilterGenerator(100, 16, (3, size, size)), MLPGenerator(100, 32, 3, (3, size, size))):
        x = gen(z)
        assert x.shape == (2, *gen.out_shape)
    for critic in (DCGANCritic(16, 1, (3, size, size)), MLPCritic(32, 3, (3, size, size))):
        assert critic(torch.randn(2, 3, size, size)).shape == (2,)


def test_constant_filter_generator_is_much_smaller() -> None:
    """Paper Fig. 7 says 'reduced by a bit more than an order of magnitude'; this reconstruction (WGAN-GP's
    crippled generator at nz 100) is 8.6x smaller than DCGAN_G at 64x64."""
    const, dcgan = ConstantFilterGenerator(100, 64, IMG64), DCGANGenerator(100, 64, 0, IMG64)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in const.modules())
    convs = [m for m in const.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.in_channels for m in convs] == [64] * 4 and [m.out_channels for m in convs] == [64, 64, 64, 3]
    assert n_params(const) == 100 * 1024 + 1024 + 3 * (64 * 64 * 25 + 64) + (64 * 3 * 25 + 3)  # 415,619
    assert n_params(dcgan) / n_params(const) > 8


def test_official_init_and_no_conv_bias() -> None:
    torch.manual_seed(0)
    critic = DCGANCritic(64, 0, IMG64)
    convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.bias is None for m in convs)
    assert abs(convs[1].weight.std().item() - 0.02) < 0.002
    bns = [m for m in critic.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert abs(bns[-1].weight.mean().item() - 1.0) < 0.01 and bns[-1].bias.abs().max() == 0


def test_clipping_covers_batch_norm_parameters() -> None:
    critic = DCGANCritic(16, 0, IMG32)
    Clip(0.01).clip(critic)
    bn = [m for m in critic.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert bn.weight.max().item() <= 0.01  # initialised near 1, clamped like every other weight


def test_non_power_of_two_size_is_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match="data.image_size"):
        DCGANGenerator(100, 64, 0, (3, 48, 48))


def test_digits_are_real_images_in_range() -> None:
    data = Digits(image_size=32)
    x = data.sample(100)
    assert x.shape == (100, 1, 32, 32) and data.shape == (1, 32, 32)
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and x.max() > 0.9
    assert len(data.images) == 1797
    fresh = Digits(image_size=8)
    seen = torch.cat([fresh.indices(600) for _ in range(3)])  # one epoch visits every digit once
    assert sorted(seen[:1797].tolist()) == list(range(1797))


def test_stacked_digit_channels_are_independent_digits() -> None:
    torch.manual_seed(0)
    data = StackedDigits(image_size=16)
    x, labels = data.sample_with_labels(20000)
    assert x.shape == (20000, 3, 16, 16) and labels.shape == (20000, 3)
    modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
    assert len(modes.unique()) > 990  # 1,000 modes, nearly all hit by 20,000 draws
    agree = (labels[:, 0] == labels[:, 1]).float().mean().item()
    assert abs(agree - 0.1) < 0.01  # independent channels agree on the digit 1 time in 10
    single = Digits(image_size=16).images
    for c in range(3):  # every channel is one of the real digits
        assert any(torch.equal(((x[0, c] + 1) * 127.5).round().to(torch.uint8), d[0]) for d in single)


def test_missing_data_fails_fast_with_where_and_how(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        torchvision_data("cifar10", str(tmp_path / "nowhere"), 32, False, 0, ["bedroom_train"])
    msg = str(err.value)
    assert "data=cifar10" in msg and str(tmp_path / "nowhere") in msg and "data.download=true" in msg


def test_cli_missing_data_leaves_no_run(tmp_path) -> None:
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    out = subprocess.run([sys.executable, "-m", "wgan_repro", "data=cifar10", "data.root=/nonexistent",
                          f"hydra.run.dir={tmp_path}/out"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2, out.stderr
    assert "no data found under data.root=/nonexistent" in out.stderr
    assert not db.exists()


ARCHS, CRITICS = ["dcgan", "dcgan_nobn", "dcgan_nobn_const", "mlp"], ["dcgan", "dcgan_nobn", "mlp"]
SMALL_IMAGES = ["data.image_size=16", "arch.nz=8", "train.batch_size=8", "eval.every=2", "eval.classifier_samples=32",
                "eval.n_samples=200"]


@pytest.mark.parametrize("arch,critic,objective", list(itertools.product(ARCHS, CRITICS, ["wgan", "gan"])))
def test_every_combination_trains_on_digits(arch: str, critic: str, objective: str, tmp_path) -> None:
    width = ["arch.ngf=8"] if arch != "mlp" else ["arch.hidden=16"]
    width += ["critic.ndf=8"] if critic != "mlp" else ["critic.hidden=16"]
    cfg, choices = compose(f"arch={arch}", f"critic={critic}", f"objective={objective}", "data=digits",
                           *TINY[:5], *SMALL_IMAGES, *width, "tracking.enabled=false", "train.progress=false")
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FINISHED" and result["gen_iter"] == 4
    grid = Image.open(tmp_path / "samples" / "samples_final.png")
    assert grid.size == (8 * 18 + 2, 8 * 18 + 2)  # 64 samples, 8 per row, 16 px + 2 px padding


def test_sample_grids_are_logged(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose("arch=dcgan", "critic=dcgan", "data=stacked_digits", *TINY[:5], *SMALL_IMAGES,
                           "arch.ngf=8", "critic.ndf=8", f"tracking.uri={mlflow_uri}", "tracking.experiment=images")
    result = run(cfg, choices, tmp_path)
    client = MlflowClient(mlflow_uri)
    paths = {a.path for a in client.list_artifacts(result["run_id"], "samples")}
    assert {"samples/real.png", "samples/samples_0000002.png", "samples/samples_0000004.png",
            "samples/samples_final.png"} <= paths
    assert Image.open(tmp_path / "samples" / "real.png").mode == "RGB"
    images = {a.path for a in client.list_artifacts(result["run_id"], "images")}
    assert images, "time-stepped images for the UI"


def test_folder_of_pngs_trains(tmp_path) -> None:
    folder = tmp_path / "pngs" / "nested"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    for i in range(10):
        arr = (torch.rand(20, 24, 3) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"img{i}.png")
    cfg, choices = compose("arch=dcgan", "critic=dcgan", "data=folder", f"data.root={tmp_path / 'pngs'}",
                           "data.num_workers=0", *TINY[:5], *SMALL_IMAGES, "arch.ngf=8", "critic.ndf=8",
                           "tracking.enabled=false")
    result = run(cfg, choices, tmp_path / "out")
    assert result["status"] == "FINISHED"
    assert Image.open(tmp_path / "out" / "samples" / "real.png").size == (8 * 18 + 2, 8 * 18 + 2)
