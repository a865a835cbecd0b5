"""The metric registry: every metric a run or a study logs, registered once with its key, space, direction, bounds,
words and a one-line doc.

Evaluators, objectives, the loop, studies, claims and the report name metrics through this module (`W1.key`,
`FID.words`, `column(W1)` for MLflow's "metrics.<key>" column), never as string literals; docs/metrics.md's table is
`markdown_table()` (tests/test_metric_registry.py checks the table, the fields and that a tiny run logs only
registered keys). Importing it loads no torch, mlflow, matplotlib or scipy: config validation, the schema and the
report read it for free.

Keys built from parts are enumerated here: a classifier's FID `eval/fid_<classifier>` and its `_floor`
(`classifier_fid`, CLASSIFIERS), and precision, recall, density, coverage with a space suffix (`prdc`,
PRDC_SUFFIXES: "" Inception, "_digits" / "_mnist" a classifier's features, "_2d" a toy's plane) and their `_floor`.
Keys indexed by a critic's layer or a histogram bin are a `Family`: a prefix and a two-digit index.

Spaces (SPACES), a closed set: where a number is computed, so that numbers of two spaces are never compared.
Direction (`better`): "lower" or "higher" is better, or "none" (estimates, floors, diagnostics, study values).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SPACES = {
    "toy": "the data's own 2-D plane (toy mixtures, the Swiss roll)",
    "classifier": "a domain classifier's features or logits (digits-cnn, mnist-cnn: eval.classifier)",
    "inception": "Inception-v3's 2,048-d pool features (TF-FID weights, offline)",
    "critic": "the critic's own scores, weights and layers, divergence estimates included",
    "training": "the loop itself: losses, the optimiser's steps, wall time",
    "study": "a study's fixed distributions and fitted critics (conf/study: no generator)",
}
BETTER = {"lower": "lower is better", "higher": "higher is better", "none": "—"}
INF = math.inf


@dataclass(frozen=True)
class Metric:
    """One logged metric: its key, the space(s) it is computed in, its direction, bounds [lo, hi], its words (for
    sentences and claims' axes), its label (report figures and tables; default: the words) and a one-line doc."""

    key: str
    spaces: tuple[str, ...]
    better: str
    lo: float
    hi: float
    words: str
    doc: str
    label: str = ""

    @property
    def name(self) -> str:
        """Its name in the registry, as the docs table shows it: the key."""
        return self.key

    @property
    def short(self) -> str:
        """The label, or the words when it has none."""
        return self.label or self.words

    def axis(self) -> str:
        """The label with its direction, for a figure's axis ("exact W1 (lower is better)")."""
        return self.short if self.better == "none" else f"{self.short} ({BETTER[self.better]})"


@dataclass(frozen=True)
class Family:
    """Metrics indexed by a two-digit number after `prefix` (a critic's layer, a histogram bin): one entry, every
    index; `key(i)` builds a member's key, `member(key)` its Metric."""

    prefix: str
    spaces: tuple[str, ...]
    better: str
    lo: float
    hi: float
    words: str
    doc: str
    label: str = ""

    @property
    def key_pattern(self) -> str:
        return f"{self.prefix}NN"

    @property
    def name(self) -> str:
        """Its name in the registry, as the docs table shows it: the prefix, then NN."""
        return self.key_pattern

    def key(self, i: int) -> str:
        return f"{self.prefix}{i:02d}"

    def matches(self, key: str) -> bool:
        return re.fullmatch(re.escape(self.prefix) + r"\d{2}", key) is not None

    def member(self, key: str) -> Metric:
        """The Metric of one member, its index in the words ("gradient norm at critic layer 03")."""
        if not self.matches(key):
            raise KeyError(f"{key!r} is not a member of {self.key_pattern}")
        index = key[len(self.prefix):]
        return Metric(key, self.spaces, self.better, self.lo, self.hi, f"{self.words} {index}", self.doc,
                      f"{self.label} {index}" if self.label else "")


REGISTRY: list[Metric | Family] = []  # in registration order: the docs table's order


def _metric(key: str, spaces: tuple[str, ...], better: str, lo: float, hi: float, words: str, doc: str,
            label: str = "") -> Metric:
    """Register one metric."""
    REGISTRY.append(Metric(key, spaces, better, lo, hi, words, doc, label))
    return REGISTRY[-1]


def _family(prefix: str, spaces: tuple[str, ...], better: str, lo: float, hi: float, words: str, doc: str) -> Family:
    """Register one family of indexed metrics."""
    REGISTRY.append(Family(prefix, spaces, better, lo, hi, words, doc))
    return REGISTRY[-1]


# --------------------------------------------------------------------------- toy data (evaluate/toy.py, modes.py)
W1 = _metric("eval/w1", ("toy",), "lower", 0, INF, "exact W1 to the data",
             "exact W1 (POT's emd2) between eval.w1_points generated and as many real points", "exact W1")
W1_FLOOR = _metric("eval/w1_floor", ("toy",), "none", 0, INF, "W1 floor (two real samples)",
                   "exact W1 between two real samples of eval.w1_points: what a perfect generator scores; once a run",
                   "W1 floor")
MODES = _metric("eval/modes", ("toy", "classifier"), "higher", 0, INF, "modes covered",
                "modes nearest to a high-quality sample (toy mixtures, VEEGAN / PacGAN, 2,500 samples), or of the "
                "1,000 digit triples predicted (stacked data, eval.stacked_modes)", "modes")
HIGH_QUALITY = _metric("eval/high_quality", ("toy",), "higher", 0, 1, "share of high-quality samples",
                       "share of generated samples within eval.hq_threshold (3) standard deviations of a mode",
                       "high quality")
KL_MODES = _metric("eval/kl_modes", ("toy", "classifier"), "lower", 0, INF, "KL of the mode histogram",
                   "KL(mode histogram of the generated samples || uniform), natural log: 0 balanced, log K one mode",
                   "reverse KL")
DOMINANT_MODE = _metric("eval/dominant_mode", ("toy",), "none", 0, INF, "dominant mode",
                        "the mode with the most high-quality samples (NaN without any); also the run's final tag")
DOMINANT_SHARE = _metric("eval/dominant_share", ("toy",), "none", 0, 1, "dominant mode's share",
                         "the dominant mode's share of the high-quality samples: a collapsed run rotates through modes")

# --------------------------------------------------------------------------- Inception (evaluate/images.py, fid.py)
FID = _metric("eval/fid", ("inception",), "lower", 0, INF, "FID (Inception)",
              "Fréchet distance in Inception features, eval.fid_samples generated (torch-fidelity 0.4.0): quality "
              "and coverage in one number", "FID")
KID = _metric("eval/kid", ("inception",), "lower", -INF, INF, "KID (Inception)",
              "kernel inception distance, mean over subsets of eval.kid_subset_size (unbiased: may fall below 0)",
              "KID")
KID_STD = _metric("eval/kid_std", ("inception",), "none", 0, INF, "KID's standard deviation",
                  "standard deviation of KID over its subsets", "KID std")

# --------------------------------------------------------------------------- a domain classifier (digits.py, mnist.py)
CLASSIFIERS = ("digits", "mnist")  # eval.classifier: each names eval/fid_<classifier> and its floor
FID_DIGITS = _metric("eval/fid_digits", ("classifier",), "lower", 0, INF, "FID in a digits classifier's features",
                     "Fréchet distance in digits-cnn's 128-d features (384-d stacked), eval.classifier_samples a side",
                     "digit FID")
FID_DIGITS_FLOOR = _metric("eval/fid_digits_floor", ("classifier",), "none", 0, INF,
                           "digit FID floor (two real halves)",
                           "digit FID between two disjoint real halves of eval.classifier_samples; once a run",
                           "digit FID floor")
FID_MNIST = _metric("eval/fid_mnist", ("classifier",), "lower", 0, INF, "FID in an MNIST classifier's features",
                    "Fréchet distance in the held-out-tested mnist-cnn's 128-d features (384-d stacked), "
                    "eval.classifier_samples a side",
                    "classifier FID")
FID_MNIST_FLOOR = _metric("eval/fid_mnist_floor", ("classifier",), "none", 0, INF,
                          "MNIST classifier FID floor (two real halves)",
                          "MNIST classifier FID between two disjoint real halves of eval.classifier_samples; once a "
                          "run", "MNIST FID floor")
CLASSES = _metric("eval/classes", ("classifier",), "higher", 0, 10, "classes covered",
                  "classes predicted for at least 1% of eval.n_samples generated samples (of 10)", "classes")
KL_CLASSES = _metric("eval/kl_classes", ("classifier",), "lower", 0, math.log(10), "KL(class histogram || uniform)",
                     "KL(predicted-class histogram || uniform over 10), natural log: 0 balanced, log 10 one class",
                     "KL of the classes")
FID_CLASSIFIER_PATTERN = "eval/fid_<classifier>"  # for sentences about every classifier at once (schema docs)
FID_CLASSIFIER_FLOOR_PATTERN = "eval/fid_<classifier>_floor"

# --------------------------------------------------------------------------- precision, recall, density, coverage
PRDC_NAMES = ("precision", "recall", "density", "coverage")
PRDC_SUFFIXES = {  # suffix -> (space, where in words, short name in labels)
    "": ("inception", "in Inception features", "Inception"),
    "_digits": ("classifier", "in a digits classifier's features", "digits"),
    "_mnist": ("classifier", "in an MNIST classifier's features", "MNIST"),
    "_2d": ("toy", "in the data's plane", "2-D"),
}
PRDC_DOCS = {
    "precision": ("higher", 0, 1, "share of generated samples inside a real sample's k-NN ball (Kynkäänniemi et al. "
                  "2019, k = eval.prc_neighbours, 3)"),
    "recall": ("higher", 0, 1, "share of real samples inside a generated sample's k-NN ball (k = "
               "eval.prc_neighbours): says collapse"),
    "density": ("none", 0, INF, "real k-NN balls a generated sample falls in, over k (Naeem et al. 2020, k = "
                "eval.dc_neighbours, 5): about 1 like the data"),
    "coverage": ("higher", 0, 1, "share of real samples whose k-NN ball (k = eval.dc_neighbours) holds a generated "
                 "one: says collapse"),
}


def _prdc_metrics() -> dict[tuple[str, str, bool], Metric]:
    """Every (name, suffix, floor) of PRDC_NAMES x PRDC_SUFFIXES, each with its floor, registered."""
    out = {}
    for suffix, (space, where, short) in PRDC_SUFFIXES.items():
        for name in PRDC_NAMES:
            better, lo, hi, doc = PRDC_DOCS[name]
            out[name, suffix, False] = _metric(f"eval/{name}{suffix}", (space,), better, lo, hi, f"{name} {where}",
                                               doc, f"{name} ({short})")
            out[name, suffix, True] = _metric(f"eval/{name}{suffix}_floor", (space,), "none", lo, hi,
                                              f"{name} floor {where} (two real samples)",
                                              f"{name} of a second real sample of the same count; once a run",
                                              f"{name} floor ({short})")
    return out


PRDC = _prdc_metrics()  # (name, suffix, floor) -> Metric; prdc() looks them up

# --------------------------------------------------------------------------- the critic (objectives.py, diagnostics.py)
EM = _metric("estimate/em", ("critic",), "none", -INF, INF, "EM estimate",
             "mean f(real) - mean f(fake) on the critic's batch, its last step of the generator iteration (wgan)")
JS = _metric("estimate/js", ("critic",), "none", -INF, math.log(2), "JS estimate (lower bound)",
             "log 2 - L/2, L the discriminator's cross-entropy: Sec. 4.3's lower bound of JS (gan, gan_minimax)",
             "JS estimate")
HINGE = _metric("estimate/hinge", ("critic",), "none", -INF, 2, "hinge estimate",
                "2 - the hinge critic loss: 0 no margin won, 2 both (hinge)")
SCORE_REAL = _metric("critic/score_real", ("critic",), "none", -INF, INF, "mean critic score on real samples",
                     "mean f(x) over the critic's real batch (a discriminator's logits)", "f(real)")
SCORE_FAKE = _metric("critic/score_fake", ("critic",), "none", -INF, INF, "mean critic score on generated samples",
                     "mean f(g(z)) over the critic's generated batch (a discriminator's logits)", "f(fake)")
WEIGHTS_NEAR_MAX = _metric("critic/weights_near_max", ("critic",), "none", 0, 1, "share of weights near the largest",
                           "share of the critic's parameters within 5% of its largest absolute one (WGAN-GP Fig. 1c; "
                           "train.critic_diagnostics)")
WEIGHTS_AT_BOUND = _metric("critic/weights_at_bound/whole", ("critic",), "none", 0, 1, "share of weights at the bound",
                           "critic/weights_near_max after weight clipping's projection onto [-c, c] (the same number "
                           "for other constraints): at iteration 0, the share clipping the initialisation alone puts "
                           "at +-c (WGAN-GP Fig. 1c; train.critic_diagnostics)")
GRAD_NORM_LAYER = _family("critic/grad_norm/layer_", ("critic",), "none", 0, INF, "gradient norm at critic layer",
                              "norm of the critic loss's gradient at layer NN's activations, 01 next to the input "
                              "(WGAN-GP Sec. 3.2; train.critic_diagnostics)")
WEIGHTS_AT_BOUND_LAYER = _family("critic/weights_at_bound/layer_", ("critic",), "none", 0, 1,
                                 "share of weights at the bound in critic layer",
                                 "share of layer NN's weights within 5% of the layer's largest absolute one, after "
                                 "weight clipping's projection onto [-c, c] (for other constraints, the layer's own "
                                 "largest), 01 next to the input (WGAN-GP Fig. 1c; train.critic_diagnostics)")
WEIGHT_HIST_BIN = _family("critic/weight_hist/bin_", ("critic",), "none", 0, 1, "share of weights in bin",
                              "share of the critic's parameters in bin NN of w / max|w|, equal bins over [-1, 1] "
                              "(train.critic_diagnostics)")

# --------------------------------------------------------------------------- the loop (runs/train.py, diagnostics.py)
LOSS_CRITIC = _metric("loss/critic", ("training",), "none", -INF, INF, "critic loss",
                      "the critic's loss at its last step of the generator iteration, any penalty included")
LOSS_GENERATOR = _metric("loss/generator", ("training",), "none", -INF, INF, "generator loss",
                         "the generator's loss at its step")
LOSS_PENALTY = _metric("loss/penalty", ("training",), "none", 0, INF, "constraint's penalty",
                       "the constraint's penalty term in the critic loss (gp: lambda (||grad f(x_hat)|| - 1)^2)")
STEP_COSINE = _metric("optim/step_grad_cosine", ("training",), "none", -1, 1,
                      "cosine between the critic's step and its negative gradient",
                      "cos(applied update, -gradient), mean over the generator iteration's critic steps (Sec. 4.3; "
                      "train.log_step_cosine)", "mean cosine")
NEGATIVE_COSINE = _metric("optim/negative_cosine_share", ("training",), "none", 0, 1,
                          "share of critic steps against the gradient",
                          "share of the generator iteration's critic steps whose cosine is negative",
                          "negative-cosine share")
ITERS_PER_S = _metric("perf/gen_iters_per_s", ("training",), "higher", 0, INF, "generator iterations per second",
                      "generator iterations per second since the last flush (train.log_every)")
THREADS = _metric("perf/threads", ("training",), "none", 1, INF, "CPU threads",
                  "torch's intra-op threads over the train.log_every iterations since the last flush, beside "
                  f"{ITERS_PER_S.key} (train.threads; by default the CPUs other processes leave free, chosen again "
                  "at each flush)")
EVAL_SECONDS = _metric("perf/eval_seconds", ("training",), "lower", 0, INF, "seconds of this evaluation",
                       "wall time of one evaluation, critic diagnostics included")
EVAL_SHARE = _metric("perf/eval_share", ("training",), "lower", 0, 1, "evaluation's share of the wall time",
                     "all evaluations' wall time so far over the loop's")

# --------------------------------------------------------------------------- studies (runs/studies.py)
FIG1_THETA = _metric("fig1/theta", ("study",), "none", -1, 1, "theta",
                     "Figure 1: the second line's offset, P_theta = (theta, Z); the step is its index")
FIG1_EM_TRUE = _metric("fig1/em_true", ("study",), "none", 0, INF, "EM distance |theta|",
                       "Figure 1: the true EM distance, |theta|")
FIG1_JS_TRUE = _metric("fig1/js_true", ("study",), "none", 0, math.log(2), "JS divergence",
                       "Figure 1: the true JS divergence, log 2 off theta = 0")
FIG1_EM_STEPS = _metric("fig1/em_steps", ("study",), "none", 0, INF, "critic fitting steps",
                        "Figure 1: steps of the critic's fits at this theta, every restart")
FIG1_JS_STEPS = _metric("fig1/js_steps", ("study",), "none", 0, INF, "discriminator fitting steps",
                        "Figure 1: steps of the discriminator's fits at this theta, every restart")
FIG1_EM_SLOPE = _metric("fig1/em_slope", ("study",), "none", -INF, INF, "EM estimate's slope over |theta|",
                        "Figure 1: least-squares K of estimate = K |theta|")
FIG1_EM_AT_ZERO = _metric("fig1/em_at_zero", ("study",), "none", -INF, INF, "EM estimate at theta = 0",
                          "Figure 1: the EM estimate at the theta nearest 0")
FIG1_K_MAX = _metric("fig1/k_max", ("study",), "none", 0, INF, "largest slope of the clipped critic",
                     "the largest slope an MLP critic with weights clipped to [-c, c] reaches (NaN unclipped)")
FIG3_CRITIC_GRAD = _metric("fig3/critic_grad_at_fake", ("study",), "none", 0, INF, "critic's gradient at the fakes",
                           "Figure 3: mean |df/dx| of the fitted critic at the fake samples")
FIG3_DISC_GRAD = _metric("fig3/disc_grad_at_fake", ("study",), "none", 0, INF,
                         "discriminator's gradient at the fakes",
                         "Figure 3: mean |dD/dx| of the fitted discriminator at the fake samples")
FIG3_MINIMAX_GRAD = _metric("fig3/minimax_grad_at_fake", ("study",), "none", 0, INF,
                            "minimax generator's gradient at the fakes",
                            "Figure 3: mean |d log(1 - D)/dx| at the fake samples (vanishes as D saturates)")
FIG3_NONSAT_GRAD = _metric("fig3/nonsat_grad_at_fake", ("study",), "none", 0, INF,
                           "-log D generator's gradient at the fakes",
                           "Figure 3: mean |d (-log D)/dx| at the fake samples")
FIG3_SLOPE_MAX = _metric("fig3/critic_slope_max", ("study",), "none", 0, INF, "largest slope of the clipped critic",
                         "Figure 3: the largest slope a clipped MLP critic reaches (NaN unclipped)")
FIG3_LINEARITY = _metric("fig3/critic_linearity_r2", ("study",), "none", 0, 1, "critic's linearity R^2",
                         "Figure 3: R^2 of the least-squares line through the critic between the two modes")
FIG3_EM_STEPS = _metric("fig3/em_steps", ("study",), "none", 0, INF, "critic fitting steps",
                        "Figure 3: steps of the critic's fit")
FIG3_JS_STEPS = _metric("fig3/js_steps", ("study",), "none", 0, INF, "discriminator fitting steps",
                        "Figure 3: steps of the discriminator's fit")
G3_ESTIMATE = _metric("g3/estimate", ("study",), "none", -INF, INF, "critic's estimate against real + noise",
                      "WGAN-GP Fig. 1a: E f(x) - E f(x + noise) of the fitted critic")
G3_LIPSCHITZ_SAMPLED = _metric("g3/lipschitz_sampled", ("study",), "none", 0, INF, "largest sampled gradient norm",
                               "WGAN-GP Fig. 1a: the critic's Lipschitz constant from below (real, noisy, between)")
G3_LIPSCHITZ_BOUND = _metric("g3/lipschitz_bound", ("study",), "none", 0, INF, "product of spectral norms",
                             "WGAN-GP Fig. 1a: the critic's Lipschitz constant from above (its layers' spectral norms)")
G3_W1 = _metric("g3/w1", ("study",), "none", 0, INF, "exact W1 to real + noise",
                "WGAN-GP Fig. 1a: exact W1 between real and noisy samples, study.w1_points a side")
G3_W1_FLOOR = _metric("g3/w1_floor", ("study",), "none", 0, INF, "W1 floor (two real samples)",
                      "WGAN-GP Fig. 1a: exact W1 between two real samples of study.w1_points")
G3_FRACTION_SAMPLED = _metric("g3/fraction_sampled", ("study",), "none", -INF, INF,
                              "share of W1 reached (sampled Lipschitz constant)",
                              "WGAN-GP Fig. 1a: estimate / (sampled Lipschitz constant x W1)")
G3_FRACTION_BOUND = _metric("g3/fraction_bound", ("study",), "none", -INF, INF,
                            "share of W1 reached (Lipschitz upper bound)",
                            "WGAN-GP Fig. 1a: estimate / (spectral-norm bound x W1)")
G3_FRACTION_BASELINE = _metric("g3/fraction_baseline", ("study",), "none", -INF, INF,
                               "share of W1 the best trivial function reaches",
                               "WGAN-GP Fig. 1a: the better of the best radial cone and the best linear function "
                               "(fitted on the W1 samples), its estimate on the critic's samples / W1")
G3_FRACTION_EXACT = _metric("g3/fraction_exact", ("study",), "none", -INF, INF,
                            "share of W1 the exact potential reaches",
                            "WGAN-GP Fig. 1a: the exact Kantorovich potential of the W1 samples (POT's duals, "
                            "c-transformed), its estimate on the critic's samples / W1")
G3_STEPS = _metric("g3/steps", ("study",), "none", 0, INF, "critic fitting steps", "WGAN-GP Fig. 1a: steps of the fit")

METRICS: dict[str, Metric] = {m.key: m for m in REGISTRY if isinstance(m, Metric)}
FAMILIES: tuple[Family, ...] = tuple(f for f in REGISTRY if isinstance(f, Family))


def registered() -> list[str]:
    """Every registered key, a family as its pattern (prefix then NN)."""
    return [m.name for m in REGISTRY]


def get(key: str) -> Metric:
    """The registered metric of `key` (a family's member included); KeyError naming the key and the registered ones."""
    if key in METRICS:
        return METRICS[key]
    for family in FAMILIES:
        if family.matches(key):
            return family.member(key)
    raise KeyError(f"{key!r} is not a registered metric (wgan_repro/evaluate/metrics.py); registered: "
                   f"{', '.join(registered())}")


def known(key: str) -> bool:
    """Whether `key` is registered (a family's member included)."""
    return key in METRICS or any(f.matches(key) for f in FAMILIES)


def classifier_fid(classifier: str, floor: bool = False) -> Metric:
    """eval/fid_<classifier> (or its floor) of a classifier of CLASSIFIERS."""
    if classifier not in CLASSIFIERS:
        raise KeyError(f"no classifier FID for {classifier!r}; registered classifiers: {', '.join(CLASSIFIERS)}")
    return get(f"eval/fid_{classifier}{'_floor' if floor else ''}")


def prdc(name: str, suffix: str = "", floor: bool = False) -> Metric:
    """Precision, recall, density or coverage in the space of `suffix` ("" Inception, "_digits" / "_mnist" a
    classifier's, "_2d" a toy's plane), or its floor."""
    if (name, suffix, floor) not in PRDC:
        raise KeyError(f"no {name!r} with space suffix {suffix!r}; names: {', '.join(PRDC_NAMES)}; suffixes: "
                       f"{', '.join(repr(s) for s in PRDC_SUFFIXES)}")
    return PRDC[name, suffix, floor]


def column(metric: Metric | str) -> str:
    """MLflow's column of a metric's last value in search_runs' frame: "metrics.<key>"."""
    return f"metrics.{metric.key if isinstance(metric, Metric) else metric}"


def words(key: str) -> str:
    """A key in words; an unregistered key (a tag from an older run) as its last part."""
    return get(key).words if known(key) else key.split("/")[-1].replace("_", " ")


def bounds(lo: float, hi: float) -> str:
    """[0, ∞), (-∞, 0.693], [0, 1]: an interval, open at an infinite end."""
    end = lambda v: ("-∞" if v < 0 else "∞") if math.isinf(v) else f"{v:.3g}"  # noqa: E731
    return f"{'(' if math.isinf(lo) else '['}{end(lo)}, {end(hi)}{')' if math.isinf(hi) else ']'}"


def markdown_table() -> str:
    """Every registered metric as a Markdown table (docs/metrics.md holds it between its metrics markers)."""
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731 - KL(p || q) inside a table cell
    lines = ["| key | space | direction | bounds | in words | what it is |", "|---|---|---|---|---|---|"]
    for m in REGISTRY:
        lines.append(f"| `{m.name}` | {', '.join(m.spaces)} | {BETTER[m.better]} | {bounds(m.lo, m.hi)} | "
                     f"{cell(m.words)} | {cell(m.doc)} |")
    return "\n".join(lines)


def check(entry: Metric | Family) -> list[str]:
    """What is wrong with an entry: unknown space or direction, empty bounds, no words or doc."""
    name = entry.name
    problems = [f"{name}: space {s!r} not in {sorted(SPACES)}" for s in entry.spaces if s not in SPACES]
    problems += [f"{name}: no space"] if not entry.spaces else []
    problems += [f"{name}: direction {entry.better!r} not in {sorted(BETTER)}"] if entry.better not in BETTER else []
    problems += [f"{name}: bounds lo {entry.lo} >= hi {entry.hi}"] if not entry.lo < entry.hi else []
    problems += [f"{name}: no words"] if not entry.words.strip() else []
    problems += [f"{name}: no doc"] if not entry.doc.strip() else []
    return problems
