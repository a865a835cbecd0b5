"""A claim's section: Markdown, HTML rendered from it by the `markdown` library (figures embedded), every table as a
tidy numeric CSV, the specification curve (every analysis: its statistic, interval and word), the claim's figure,
the data export and verdict.json (what the index reads)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import markdown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from wgan_repro.claims import EXPLORATORY, claim_ids, load_claim, shown_command, shown_path  # noqa: E402
from wgan_repro.claims import decision as D  # noqa: E402
from wgan_repro.claims.data import ClaimData, export  # noqa: E402
from wgan_repro.claims.engine import Claim, Result, claim_module, thresholds  # noqa: E402
from wgan_repro.curves import running_median  # noqa: E402
from wgan_repro.evaluate import metrics as M  # noqa: E402

WORD_COLOUR = {D.REPRODUCED: "tab:green", D.NOT_REPRODUCED: "tab:red", D.INCONCLUSIVE: "tab:gray"}
AXIS = {"rho_diff": "Spearman(estimate, quality),\nfirst differences (> 0: they move together)",
        "final_quality": "final quality (the run's measure;\nlower is better)",
        "quality": "final quality (lower is better)",
        "modes": "modes covered", "rotations": "mode rotations", "kl_classes": "KL(class histogram || uniform)",
        "minimax_over_critic": "minimax generator gradient /\nclipped critic's", "nonsat_over_critic":
        "-log D generator gradient /\nclipped critic's", "events": "instability events per run",
        "negative_share": "share of critic steps\nagainst the gradient",
        "modes_last": "final modes covered\n(mean of the last evaluations)", "w1_over_floor": "final W1 / its floor",
        "log_u": "log U: instability\n(worst value for broken runs)"}  # per-run columns' axis labels
LOG_SCALE = {"minimax_over_critic", "nonsat_over_critic", "quality", "final_quality", "w1_over_floor"}
STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45;padding:0 1em}"
         # a wide table scrolls within itself: the page never scrolls sideways
         "table{border-collapse:collapse;font-size:13px;margin:1em 0;display:block;max-width:100%;overflow-x:auto}"
         "td,th{border:1px solid #ccc;padding:3px 6px;overflow-wrap:anywhere}"
         "pre{overflow-x:auto}"
         "th{background:#f3f3f3}img{max-width:100%}code{background:#f5f5f5;padding:0 3px}"
         ".verdict{font-size:1.15em;padding:.6em;border-left:5px solid #888;background:#fafafa}")


def log_scale(ax: Any, axis: str = "y") -> None:
    """A log axis (y, or x) with few ticks labelled as plain numbers, never a crowd of minor labels: one tick per
    decade (or fewer) beyond three decades; within them 1-2-5 (0.5, 1, 2, 5, 10) where that labels at least three
    ticks, else evenly spaced ones (85 to 190: 100, 125, 150, 175), where 1-2-5 would leave most of the axis bare."""
    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    locator = LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,), numticks=7)
    if decades <= 3 and sum(lo <= v <= hi for v in locator.tick_values(lo, hi)) < 3:
        locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    scale = getattr(ax, f"{axis}axis")
    scale.set_major_locator(locator)
    scale.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}" if 1e-3 <= v < 1e5 else f"{v:.0e}"))
    scale.set_minor_formatter(NullFormatter())


def quality_words(data: ClaimData) -> str:
    """The runs' quality measure(s) in words ("FID in an MNIST classifier's features"), for axes."""
    return " / ".join(M.words(q) for q in dict.fromkeys(data.runs["tags.quality"]))


def curves_panels(data: ClaimData, colour: Mapping[str, str], axes: Any, median_width: int) -> None:
    """Over generator iterations, one line per run coloured by arm: each estimate (one panel per quantity: the EM and
    JS estimates do not share an axis) through the rule's running median (its width in iterations), as the paper's
    Figure 4 draws it, then quality at the evaluations (log scale: it falls by orders)."""
    estimates = list(dict.fromkeys(data.runs["tags.estimate"]))
    qualities = quality_words(data)
    labelled: set[tuple[int, str]] = set()  # (panel, arm): one legend entry per arm and panel

    def label(panel: int, arm: str) -> str:
        new = (panel, arm) not in labelled
        labelled.add((panel, arm))
        return arm if new else "_nolegend_"

    for _, r in data.runs.iterrows():
        arm, panel = r["tags.arm"], estimates.index(r["tags.estimate"])
        est, q = data.curve(r.run_id, r["tags.estimate"]), data.curve(r.run_id, r["tags.quality"])
        if len(est):
            axes[panel].plot(est.index, running_median(est, median_width).to_numpy(), color=colour[arm], lw=1,
                             label=label(panel, arm))
        if len(q):
            axes[len(estimates)].plot(q.index, q.to_numpy(), ".-", color=colour[arm], lw=1, ms=3,
                                      label=label(len(estimates), arm))
    for ax, name in zip(axes, estimates):
        ax.set_ylabel(f"{M.words(name)}\n(running median, {median_width} iterations)", fontsize=9)
    axes[len(estimates)].set_ylabel(f"{qualities} (lower is better)", fontsize=9)
    log_scale(axes[len(estimates)])
    for ax in axes[:len(estimates) + 1]:
        ax.set_xlabel("generator iterations", fontsize=9)
        ax.legend(fontsize=8, title="arm", title_fontsize=8)
        ax.grid(alpha=0.3)


def figure(claim_id: str, claim: Claim, t: Any, data: ClaimData, table: pd.DataFrame, path: Path) -> Path | None:
    """The claim's figure, drawn from the exported data alone: the module's own, or each run over training (claims
    about curves) above one point per run and arm for the module's `strips` columns."""
    if hasattr(claim, "figure"):
        return claim.figure(data, t, table, path)
    columns = [c for c in claim.strips if c in table]
    if table.empty or not columns:
        return None
    top = len(set(data.runs["tags.estimate"])) + 1 if claim.curves_figure else 0  # estimates and quality
    width = max(top, len(columns))
    fig, axes = plt.subplots(2 if top else 1, width, figsize=(5.2 * width, 7.6 if top else 3.8), squeeze=False)
    arms = list(dict.fromkeys(table["arm"]))
    colour = {a: f"C{i}" for i, a in enumerate(dict.fromkeys([*arms, *data.runs["tags.arm"]]))}  # failed too
    if top:
        curves_panels(data, colour, axes[0], t.width)
    for ax in [*(axes[0][top:] if top else []), *axes[-1][len(columns):]]:  # panels a row does not fill
        ax.set_visible(False)
    for ax, col in zip(axes[-1], columns):
        for i, a in enumerate(arms):
            y = table.loc[table["arm"] == a, col].astype(float).to_numpy()
            ax.plot(np.full(len(y), i) + np.linspace(-0.15, 0.15, len(y)), y, "o", ms=5, color=colour[a])
        ax.set_xticks(range(len(arms)), arms, rotation=30 if len(arms) > 4 else 0, ha="right" if len(arms) > 4
                      else "center", fontsize=8)
        ax.set_xlim(-0.5, len(arms) - 0.5)
        named = col in ("quality", "final_quality") and "tags.quality" in data.runs  # the measure, in words
        ax.set_ylabel(f"final {quality_words(data)}\n(lower is better)" if named
                      else AXIS.get(col, col.replace("_", " ")), fontsize=9)
        if col in LOG_SCALE and (table[col] > 0).all():
            log_scale(ax)
        ax.grid(alpha=0.3)
    what = "each run over training (top), one point per run (bottom)" if top else "one point per run"
    fig.suptitle(f"{claim_id}: {what}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def spec_curve(claim_id: str, result: Result, path: Path) -> Path:
    """The specification curve: one row per analysis (the primary first), its statistic with the interval the word
    is decided on, its threshold (dashed) and smallest effect of interest (ticks), coloured by the word it gives
    (Simonsohn, Simmons and Nelson 2020). Rows share their x axis when every analysis measures the same thing; each
    has its own when a variant measures in other units."""
    analyses = [result.primary, *result.variants]
    outcomes = [replace(binding(o), name=o.name) for o in analyses]  # each analysis by the sub-test that binds it
    same = len({(o.label, "log scale" in o.method) for o in outcomes}) == 1  # one measure: one x axis for all
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(8, 0.95 * len(outcomes) + 1.0), squeeze=False, sharex=same)
    logs: list[Any] = []  # rows on a log axis, scaled once every row is drawn (shared rows share their limits)
    for i, (ax, o) in enumerate(zip(axes[:, 0], outcomes)):
        lo, hi = (o.lo, o.hi) if np.isfinite(o.lo) and np.isfinite(o.hi) else (o.value, o.value)
        ax.plot([lo, hi], [0, 0], "-", color=WORD_COLOUR[o.word], lw=4, solid_capstyle="butt")
        ax.plot([o.value], [0], "o", color=WORD_COLOUR[o.word], ms=8, markeredgecolor="black")
        ax.axvline(o.threshold, color="black", lw=1, ls="--")
        if o.equivalence:
            ax.plot(o.equivalence, [0, 0], "|", color="black", ms=14, mew=2)
        points = [v for v in (lo, hi, o.value, o.threshold, *(o.equivalence or ())) if np.isfinite(v)]
        if points and min(points) > 0 and "log scale" in o.method:
            logs.append(ax)
        ax.set_yticks([])
        ax.set_ylabel("primary" if i == 0 else o.name, rotation=0, ha="right", va="center", fontsize=9,
                      fontweight="bold" if i == 0 else "normal")
        ax.set_title(f"{o.label}: {o.word}", fontsize=8, loc="left", pad=2)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="x")
    for ax in logs:
        log_scale(ax, "x")
    handles = [plt.Line2D([], [], color=c, lw=4, label=w) for w, c in WORD_COLOUR.items()]
    handles += [plt.Line2D([], [], color="black", ls="--", label="threshold"),
                plt.Line2D([], [], color="black", marker="|", ls="none", ms=12, label="smallest effect of interest")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    several = any(len(o.parts) > 1 for o in analyses)
    fig.suptitle(f"{claim_id}: every analysis declared before the runs, robustness: {result.robustness}"
                 + ("\neach by the sub-test that decided it (all passing: the one that passed by least)" if several
                    else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def looks_line(result: Result, cap: int) -> str:
    """Where a sequential claim stopped and why, with the bias an early stop (before the `cap`, its seeds per arm)
    brings (empty for a fixed design)."""
    if not result.looks:
        return ""
    last = result.looks[-1]
    decided = result.word != D.INCONCLUSIVE
    why = f"its interval at nominal level {last.level:.2g} crossed a boundary" if decided else "no look decided"
    early = (f" It stopped before its cap ({cap} seeds per arm), and an estimate at an early stop is biased away "
             "from the threshold (a look stops when its interval is far from it): read its size with care."
             if decided and last.n < cap else "")
    return (f"<br>Stopped at look {len(result.looks)} ({last.n} seeds per arm): {why}; looks: "
            + ", ".join(f"{k.n} seeds: {k.result.headline}" for k in result.looks) + "." + early)


def looks_figure(claim_id: str, result: Result, path: Path) -> Path:
    """The primary's repeated confidence interval at every look, with the threshold and the smallest effect of
    interest: the boundaries its word is decided against."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for k in result.looks:
        o = k.result.primary
        lo, hi = (o.lo, o.hi) if np.isfinite(o.lo) and np.isfinite(o.hi) else (o.value, o.value)
        ax.plot([k.n, k.n], [lo, hi], "-", color=WORD_COLOUR[o.word], lw=4, solid_capstyle="butt")
        ax.plot([k.n], [o.value], "o", color=WORD_COLOUR[o.word], markeredgecolor="black")
    o = result.primary
    ax.axhline(o.threshold, color="black", ls="--", lw=1)
    for edge in o.equivalence or ():
        ax.axhline(edge, color="grey", ls=":", lw=1)
    ends = [v for k in result.looks for v in (k.result.primary.lo, k.result.primary.hi)]
    if "log scale" in o.method and all(np.isfinite(v) and v > 0 for v in ends):
        log_scale(ax, "y")
    ax.set_xlabel("seeds per arm at the look")
    ax.set_ylabel(o.label, fontsize=8)
    ax.set_title(f"{claim_id}: the repeated interval at every look (dashed: threshold; dotted: the smallest effect "
                 "of interest)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def short(commit: str) -> str:
    """Commits shortened to 10 characters; words ('uncommitted', 'unknown') as they are."""
    return ", ".join(c[:10] if all(ch in "0123456789abcdef" for ch in c) else c for c in commit.split(", "))


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    shown = df.copy()
    for c in shown:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}")
    if "run_id" in shown:
        shown["run_id"] = shown["run_id"].astype(str).str[:8]
    return shown.to_markdown(index=False)


def changes_after(claim: DictConfig, commit: str) -> list[Any]:
    """The claim's rule changes made after the runs at `commit` (each change names the commit of the runs it came
    after): a later run of the claim, under the changed rule, has none."""
    return [c for c in claim.changes if c.runs_commit and commit.startswith(c.runs_commit)]


ESTIMATES = {  # what each objective's estimate is, with its sign (objectives.py)
    M.EM.key: f"{M.EM.key} = mean f(real) - mean f(fake) on the critic's batch, logged once per generator "
              "iteration from its last critic step, before that step's clip (the negated critic loss without "
              "any penalty: positive, it falls as the generator improves)",
    M.JS.key: f"{M.JS.key} = log 2 - L/2, L the discriminator's binary cross-entropy on its batch (Sec. 4.3's "
              "lower bound of JS, at most log 2)",
    M.HINGE.key: f"{M.HINGE.key} = 2 - the hinge critic loss (0: no margin won, 2: both)",
}
FID_PROTOCOL = {m.key: f"tags.{m.key.split('/')[1]}_protocol" for m in (M.FID, M.FID_MNIST, M.FID_DIGITS)}  # its tag


def values(data: ClaimData, column: str, by_arm: bool = True) -> str:
    """A run column's values as a reader wants them: one value, or each arm's."""
    runs = data.runs
    if column not in runs or runs[column].isna().all():
        return "not recorded in this export"
    per_arm = runs.groupby("tags.arm")[column].agg(lambda v: ", ".join(sorted({str(x) for x in v.dropna()})))
    if per_arm.nunique() == 1 or not by_arm:
        return per_arm.iloc[0]
    return "; ".join(f"{arm}: {v}" for arm, v in per_arm.items() if v)


def seed_ranges(data: ClaimData) -> str:
    """Seeds per arm, grouped: 'seeds 0-7 (6 arms); seeds 0-2 (rmsprop@0.005, ...)'."""
    runs = data.runs
    seeds = runs.groupby("tags.arm")["tags.seed"].agg(lambda v: tuple(sorted({int(x) for x in v})))
    parts = []
    for group, arms in seeds.groupby(seeds):
        span = (f"{group[0]}-{group[-1]}" if list(group) == list(range(group[0], group[-1] + 1)) and len(group) > 2
                else ", ".join(map(str, group)))
        who = "every arm" if len(arms) == len(seeds) else (", ".join(arms.index) if len(arms) <= 4
                                                             else f"{len(arms)} arms")
        parts.append(f"seeds {span} ({who})")
    return "; ".join(parts)


def protocol(claim: Claim, t: Any, data: ClaimData) -> list[str]:
    """What users of other harnesses most often find missing when a number does not reproduce: the estimate's sign
    and filter, the clip's order, the quality measure's network and sample counts, the seeds."""
    runs = data.runs
    out = [f"Seeds: {seed_ranges(data)}."]
    estimates = sorted(set(runs.get("tags.estimate", pd.Series(dtype=str)).dropna()))
    study = runs.get("tags.study", pd.Series(dtype=str)).notna().any()  # fits critics; no generator, no evaluations
    if estimates and not study:
        width = getattr(t, "width", None)
        read = (f"the rule reads it through a centred running median over {width} generator iterations"
                if width else "the rule does not filter it")
        out.append("Estimate: " + "; ".join(ESTIMATES.get(e, e) for e in estimates) + f"; {read}.")
    if "tags.constraint" in runs and runs["tags.constraint"].notna().any():
        for kind, at in runs.groupby("tags.constraint"):
            arms = ", ".join(dict.fromkeys(at["tags.arm"]))
            one = lambda col: ", ".join(sorted({str(v) for v in at.get(col, pd.Series(dtype=str)).dropna()}))  # noqa
            if kind == "clip":
                when = {"after": "after each critic step (Algorithm 1, line 7)",
                        "before": "before each critic step (the official main.py)"}
                order = "; ".join(when.get(w, w) for w in one("params.constraint.when").split(", ") if w)
                what = f"weights clipped to [-c, c], c = {one('params.constraint.c') or '?'}, {order or 'order ?'}"
            elif kind == "gp":
                what = f"gradient penalty, lambda = {one('params.constraint.lam') or '?'}, no clipping"
            else:
                what = {"none": "no constraint", "sn": "spectral normalisation"}.get(kind, kind)
            out.append(f"Constraint ({arms}): {what}.")
    quality = sorted(set(runs.get("tags.quality", pd.Series(dtype=str)).dropna()))
    for q in quality:
        if q == M.W1.key:
            out.append(f"Quality: {M.W1.key}, exact W1 (POT's emd2) between {values(data, 'params.eval.w1_points')} "
                       "generated and as many real points, beside its floor (two real samples of that size).")
        elif q.startswith(M.FID.key):
            tag = FID_PROTOCOL.get(q, "")
            out.append(f"Quality: {q}, network and sample counts: {values(data, tag, by_arm=False)}.")
        else:
            out.append(f"Quality: {q}.")
    if "params.eval.at_start" in runs and not study:
        out.append(f"Evaluated every {values(data, 'params.eval.every')} generator iterations"
                   + (", and at iteration 0" if values(data, "params.eval.at_start") == "True" else "")
                   + f", {values(data, 'params.train.iterations')} in all.")
    return out


def samples_block(data: ClaimData) -> list[str]:
    """Each arm's samples at mid-training and at the end (the export's samples/), one row per arm."""
    shots = data.samples
    if shots.empty:
        return ["## Samples", "", "This export holds no sample images (its runs did not save them, or it predates "
                "the second edition).", ""]
    if set(shots["stage"]) == {"study"}:  # a study trains no generator: the fitted critic and the two distributions
        lines = ["## Samples", "", "This claim trains no generator: each arm's run at its lowest seed (a fixed rule, "
                 "never the best run) drew its two fixed distributions and the critic it fitted.", "",
                 "| arm | the fitted critic |", "|---|---|"]
        lines += [f"| {r.arm} | ![{r.arm}, seed {r.seed}](data/samples/{r.file})<br>seed {r.seed} |"
                  for r in shots.itertuples()]
        return [*lines, ""]
    lines = ["## Samples", "", "Each arm's run at its lowest seed (a fixed rule, never the best run), at the "
             "evaluation nearest mid-training and at the last one, each at the page's width (their labels are "
             "drawn in the image).", ""]
    stage = {"mid": "mid-training", "final": "final"}
    for arm, at in shots.groupby("arm", sort=False):
        lines += [f"### {arm}", ""]
        for r in sorted(at.itertuples(), key=lambda r: r.step):
            lines += [f"{stage.get(r.stage, r.stage)}: seed {r.seed}, iteration {r.step}", "",
                      f"![{arm} at iteration {r.step}](data/samples/{r.file})", ""]
    return lines


def shown_word(headline: str, budget: str) -> str:
    """The verdict word as shown: a smoke or pilot budget's is marked '(smoke)' or '(pilot)', never read as a
    verdict."""
    return f"{headline} ({budget})" if budget in EXPLORATORY else headline


def binding(o: D.Outcome) -> D.Outcome:
    """The sub-test that binds an analysis: the one that decided it, or, when all pass, the one that passed by least:
    the largest one-sided p (F4's MLP generator beside DCGAN's), ties (an exact test's smallest p) broken by the
    bound's distance from the threshold in widths of its interval."""
    def margin(x: D.Outcome) -> float:
        gap = {"above": x.lo - x.threshold, "below": x.threshold - x.hi}.get(x.side, np.nan)
        return gap / (x.hi - x.lo) if np.isfinite(gap) and x.hi > x.lo else np.inf

    ranked = [x for x in o.parts if np.isfinite(x.p)]
    return max(ranked, key=lambda x: (x.p, -margin(x))) if o.word == D.REPRODUCED and len(ranked) > 1 else o


def sentence(claim: DictConfig, result: Result, budget: str) -> str:
    """The section's first line: what the paper says, what we measured, the word and its robustness. A primary of
    several sub-tests shows the claim's own statistic (or the one that decided against it) and, when another bound
    it, that one too."""
    o = result.primary
    agree = sum(v.word == o.word for v in result.variants)

    def shown(x: D.Outcome) -> str:
        return f"{x.label} **{x.value:.3g}** [{x.lo:.3g}, {x.hi:.3g}] ({x.method}, n={x.n})"

    weakest = binding(o)
    weak = (f" and, the weakest of its {len(o.parts)} sub-tests, {shown(weakest)}"
            if weakest is not o and weakest is not o.parts[0] else "")  # binding(o) is o without parts
    return (f"**{claim.title}** ({claim.paper.split(':')[0]}); we measured {shown(o)}{weak}; "
            f"**{shown_word(result.headline, budget)}**, {result.robustness} "
            f"({agree} of {len(result.variants)} variant analyses give the primary's word).")


def analyses_table(result: Result) -> pd.DataFrame:
    """One row per analysis and sub-test: the statistic, its interval, the threshold, the word."""
    rows = []
    for i, o in enumerate([result.primary, *result.variants]):
        for part in o.parts or (o,):
            rows.append({"analysis": ("primary" if i == 0 else o.name), "sub-test": part.label,
                         "statistic": part.value, "lo": part.lo, "hi": part.hi, "threshold": part.threshold,
                         "claim side": {"above": ">", "below": "<", "inside": "+-"}[part.side],
                         "p (one-sided)": part.p,
                         "method": part.method, "n": part.n, "word": part.word, "why": part.detail})
    return pd.DataFrame(rows)


def render(claim: DictConfig, budget: str, data: ClaimData, result: Result, meta: Mapping[str, Any],
           out_dir: Path, notes: list[str]) -> dict[str, Any]:
    """Write the section into out_dir; returns what verdict.json holds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    export(data, out_dir / "data")
    tables = {"analyses": analyses_table(result), **result.tables}
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False, float_format="%.10g")
    module, t = claim_module(claim.id), thresholds(claim.id, claim.rule)
    curve = spec_curve(claim.id, result, out_dir / "specification.png")
    fig = figure(claim.id, module, t, data, result.tables["per_run"], out_dir / "figure.png")
    rule = OmegaConf.to_container(claim.rule)
    changes = changes_after(claim, meta["commit"])
    changed = (f" <i>The rule was changed after its runs ({len(changes)} change{'s' if len(changes) > 1 else ''}, "
               "below).</i>" if changes else "")
    gates = "".join(f"<br>Gate {'passed' if g.passed else '<b>not reached</b>'}: {g.text}." for g in result.gates)
    controls = ("<br>Controls (known-answer runs through this whole decision, at the budget's arms and seeds): "
                + "; ".join(c.line() for c in result.controls) + "." if result.controls else
                "<br>Controls: <b>none declared</b>: this test is not shown able to give each word.")
    seeds = f"<br>Seeds: {meta['seed_independence']}." if meta.get("seed_independence") else ""
    stopped = looks_line(result, max(meta.get("design", {}).get("looks", [0])))
    replication = (f" <i>A replication of commit {meta['replicate'][:10]}, not an independent confirmation.</i>"
                   if meta.get("replicate") else "")
    banner = [f"> **{NOT_A_VERDICT[budget]}.** {EXPLORATORY_TEXT[budget]}: the word below is not a verdict.", ""
              ] if budget in EXPLORATORY else []
    lines = [f"# {claim.id}: {claim.title}" + (f" ({budget})" if banner else ""), "", *banner,
             sentence(claim, result, budget), "",
             f"<p class='verdict'><b>Verdict ({budget}): {shown_word(result.headline, budget)}; "
             f"{result.robustness}.</b> "
             f"{result.primary.text()}.{stopped}{gates}{controls}{seeds}{changed}{replication}</p>", "",
             "## Every analysis (the specification curve)", "",
             f"![{claim.id} specification curve]({curve.name})", "",
             markdown_table(tables["analyses"]), ""]
    if result.looks:
        shown = looks_figure(claim.id, result, out_dir / "looks.png")
        lines += ["## Every look", "", f"![{claim.id} looks]({shown.name})", ""]
    if fig is not None:
        lines += ["## Figure", "", f"![{claim.id}]({fig.name})", ""]
    lines += samples_block(data)
    lines += ["## Protocol", "", *[f"- {line}" for line in protocol(module, t, data)], ""]
    lines += [f"**The paper.** {claim.paper}", "", f"**Measures.** {claim.measures}", "",
              f"**Statistic.** {claim.statistic}", "",
              f"**Rule** (`conf/claim/{claim.id}.yaml` and `wgan_repro/claims/{claim.id.lower()}.py`, at commit "
              f"`{short(meta['rule_commit'])}`): {claim.rule_text}", "",
              f"**Smallest effect of interest.** {claim.sesoi or 'none named'}", "",
              f"Thresholds: `{json.dumps(rule)}`", "",
              "**Variants** (declared with the rule; each decided the same way): "
              + "; ".join(f"*{n}* ({w})" for n, w in module.describe_variants().items() if n != "primary") + ".", "",
              *[line for c in changes for line in (
                  f"**Changed after the runs** ({c.date}). {c.what} *Why:* {c.why} *The verdict the rule gave before "
                  f"the change:* {c.before}" + (f" *After:* {c.after}" if c.after else ""), "")],
              f"**Runs.** {meta['n_runs']} runs at budget `{budget}` from commit `{short(meta['commit'])}` "
              f"(tree clean: {meta['clean']}); wall time {meta['wall']}; machine: {meta['machine']}.", "",
              f"Command: `{shown_command(meta['command'])}`", ""]
    if (out_dir / "plan.txt").is_file():
        lines += ["The plan printed before the runs (design, the pilot's power, gates, wall): [plan.txt](plan.txt).",
                  ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    for name, table in result.tables.items():
        lines += [f"## {name.replace('_', ' ')} (`{name}.csv`)", "", markdown_table(table), ""]
    lines += ["## Data", "", "`data/runs.csv` (one row per run: tags, params, final metrics) and `data/curves.csv.gz` "
              "(run_id, key, step, value) hold everything the verdict is computed from, and `data/samples/` the "
              "sample images above; "
              f"`python -m wgan_repro.reproduce claim={claim.id} budget={budget} "
              f"render_from={shown_path(out_dir)}/data` re-renders this section from them.", ""]
    discussion = out_dir / "DISCUSSION.md"
    if discussion.is_file():
        lines += ["## Discussion (hand-written, not part of the rule)", "", discussion.read_text().strip(), ""]
    text = "\n".join(lines)
    (out_dir / "section.md").write_text(text)
    (out_dir / "section.html").write_text(to_html(text, out_dir, f"{claim.id}: {claim.title}"))
    outcome = lambda o: {"name": o.name, "word": o.word, "statistic": o.value, "lo": o.lo, "hi": o.hi,  # noqa: E731
                         "threshold": o.threshold, "detail": o.detail, "label": o.label}
    record = {"claim": claim.id, "title": claim.title, "verdict": result.headline, "word": result.word,
              "robustness": result.robustness, "reason": result.reason(),
              "primary": outcome(result.primary), "variants": [outcome(v) for v in result.variants],
              "gates": [{"arm": g.arm, "passed": g.passed, "text": g.text} for g in result.gates],
              "changed_after_runs": [{"date": c.date, "before": c.before, "after": c.after} for c in changes],
              "controls": [{"name": c.control.name, "kind": c.control.kind, "what": c.control.what,
                            "word": c.result.headline, "robustness": c.result.robustness, "passed": c.ok}
                           for c in result.controls],
              "seed_independence": meta.get("seed_independence"), "replicate": meta.get("replicate"),
              "looks": [{"seeds": k.n, "level": k.level, "word": k.result.headline, "statistic": k.result.primary.value,
                         "lo": k.result.primary.lo, "hi": k.result.primary.hi} for k in result.looks],
              "plan_power": meta.get("plan_power"), "budget": budget,
              **{k: meta[k] for k in ("n_runs", "commit", "clean", "rule_commit", "wall", "wall_s", "machine",
                                      "command")},
              "numbers": {k: (v if isinstance(v, (int, float, str, bool, list)) or v is None else str(v))
                          for k, v in result.numbers.items()}}
    (out_dir / "verdict.json").write_text(json.dumps(record, indent=1, default=str))
    return record


def to_html(text: str, folder: Path, title: str) -> str:
    """Markdown -> a self-contained page (the `markdown` library; images embedded as data URIs)."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])

    def embed(match: re.Match) -> str:
        path = folder / match.group(1)
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^":]+\.png)"', embed, body)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def index(folder: Path) -> Path:
    """README.md (and index.html) over every section under `folder`: one row per claim with its verdict. Titled as
    the reference reproduction only in a folder named `reference`; a folder of smoke sections says it is a pipeline
    check."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*/verdict.json"))]
    budgets = sorted({r["budget"] for r in records})
    if folder.name == "reference":
        title = "wgan_repro: the reference reproduction"
    elif len(budgets) == 1 and budgets[0] in EXPLORATORY:
        title = f"wgan_repro: {NOT_A_VERDICT[budgets[0]].lower()} (budget={budgets[0]}): no verdicts"
    else:
        title = f"wgan_repro: claims at budget={', '.join(budgets) or 'none'}"
    done = {r["claim"] for r in records}
    rows = [{"claim": f"[{r['claim']}]({r['claim']}/section.md)", "what the paper says": r["title"],
             "verdict": f"**{shown_word(r['verdict'], r['budget'])}**"
                        + (f" ({CHANGED})" if r.get("changed_after_runs") else ""),
             "robustness": r.get("robustness", ""),
             "power (plan)": f"{r['plan_power']:.0%}" if r.get("plan_power") is not None else "no plan",
             "gates": ("all reached" if all(g["passed"] for g in r.get("gates", [])) else
                       "not reached: " + ", ".join(g["arm"] for g in r["gates"] if not g["passed"])),
             "budget": r["budget"], "runs": r["n_runs"],
             "commit": f"`{short(r['commit'])}`", "wall": r["wall"]} for r in records]
    rows += [{"claim": c, "what the paper says": load_claim(c).title, "verdict": "not run yet", "robustness": "",
              "power (plan)": "", "gates": "", "budget": "", "runs": 0, "commit": "", "wall": ""}
             for c in claim_ids() if c not in done]
    rows.sort(key=lambda r: r["claim"].strip("["))
    intro = folder / "INTRO.md"
    text = "\n".join([f"# {title}", "", intro.read_text().strip() if intro.is_file() else "", "",
                      pd.DataFrame(rows).to_markdown(index=False) if rows else "No claim has been run yet.", "",
                      POWER_LEGEND, "",
                      *[f"- **{r['claim']}** ({r['verdict']}{'; ' + CHANGED if r.get('changed_after_runs') else ''}): "
                        f"{r['reason']}." for r in records], "",
                      f"Each claim's word comes from its primary analysis at alpha {FAMILY_ALPHA} per sub-test, with "
                      "no "
                      "correction across claims or across a claim's variants: were every claim false, the chance "
                      f"that at least one of {len(rows)} reads 'reproduced' by luck alone is up to "
                      f"{1 - (1 - FAMILY_ALPHA) ** len(rows):.0%}.", "", *wall_total(records)])
    (folder / "README.md").write_text(text)
    (folder / "index.html").write_text(to_html(text.replace("/section.md)", "/section.html)"), folder, title))
    return folder / "README.md"


def wall_total(records: list[dict]) -> list[str]:
    """The index's line on time: the claims' walls summed, the paper's claims (F*) and the project's own (G*) apart.
    Each wall is its claim's first run start to last run end, as measured, so a claim that shared the machine with
    other work counts at its slower wall."""
    if not records:
        return []

    def minutes(prefix: str) -> float:
        return sum(r.get("wall_s", 0) for r in records if r["claim"].startswith(prefix)) / 60

    return [f"Wall time, summed over the {len(records)} sections above: {minutes(''):.0f} min "
            f"({minutes('F'):.0f} min for the paper's claims F*, {minutes('G'):.0f} min for G*), each claim from "
            "its first run's start to its last run's end with two runs at a time, as measured (a claim that shared "
            "the machine with other work counts at its slower wall).", ""]


POWER_LEGEND = ("*power (plan)*: the chance, planned before the runs, that the design gives its word at the smallest "
                "effect of interest. A significant result at low planned power likely overstates its effect.")
# how a smoke or pilot budget's sections and index introduce themselves
NOT_A_VERDICT = {"smoke": "Pipeline check, not a verdict", "pilot": "Pilot, not a verdict"}
EXPLORATORY_TEXT = {
    "smoke": "Budget `smoke` runs a few iterations of every arm to check the pipeline end to end",
    "pilot": ("Budget `pilot` runs the cpu budget's arms on pilot seeds, never a confirmatory budget's: its runs "
              "give `plan=true` the SDs it computes power from (`pilot=<this section>/data`)")}
FAMILY_ALPHA = 0.05  # the house's alpha (every claim's rule uses it), for the index's family-wide statement
CHANGED = "rule changed after the runs"  # the index's mark on a claim whose rule changed after its runs
README_MARKERS = ("<!-- reference:start -->", "<!-- reference:end -->")


README_COLUMNS = ("claim", "what the paper says", "verdict", "robustness", "gates", "runs")


def readme_summary(index_text: str, prefix: str = "reports/reference/") -> str:
    """The project README's summary of the reproduction, between README_MARKERS: the index's table, every claim
    and README_COLUMNS of it, links re-rooted at `prefix`, no verdict paragraphs (they are the index's)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in index_text.splitlines()
            if line.startswith("|") and not line.startswith("|:")]
    header, body = rows[0], rows[1:]
    keep = [header.index(c) for c in README_COLUMNS if c in header]
    lines = ["| " + " | ".join(header[i] for i in keep) + " |", "|" + "---|" * len(keep)]
    lines += ["| " + " | ".join(r[i] for i in keep).replace("](", f"]({prefix}") + " |" for r in body]
    return f"{README_MARKERS[0]}\n" + "\n".join(lines) + f"\n{README_MARKERS[1]}"


def sync_readme(folder: Path, readme: Path) -> bool:
    """Rewrite the block between README_MARKERS in `readme` from `folder`'s index, when `folder` is the reference
    report that README summarises (its `reports/reference`); False (nothing written) otherwise."""
    if not readme.is_file() or folder.resolve() != (readme.parent / "reports" / "reference").resolve():
        return False
    text = readme.read_text()
    start, end = text.find(README_MARKERS[0]), text.find(README_MARKERS[1])
    if start < 0 or end < start:
        return False
    summary = readme_summary((folder / "README.md").read_text())
    readme.write_text(text[:start] + summary + text[end + len(README_MARKERS[1]):])
    return True
