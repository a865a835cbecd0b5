"""Decision rules, one function per claim, named in the claim file (`rule.name`) with its thresholds.

Each takes the claim's data (data.ClaimData) and the rule's parameters and returns a Verdict: one of the three
words, a reason that gives the numbers, tidy numeric tables (one row per run or per group) and the statistics the
reason cites. Rules read only what the export keeps, so a reader can recompute them from runs.csv and curves.csv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from wgan_repro.claims import stats as S
from wgan_repro.claims.data import ClaimData

LOG2 = math.log(2)


@dataclass
class Verdict:
    word: str  # reproduced | not reproduced | inconclusive
    reason: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)


def metric(runs: pd.DataFrame, name: str) -> pd.Series:
    col = f"metrics.{name}"
    return runs[col].astype(float) if col in runs else pd.Series(np.nan, index=runs.index)


def arm(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    return runs[runs["tags.arm"] == name]


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "FINISHED"]


def per_run(runs: pd.DataFrame, columns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """A tidy table: run id, arm, seed, then the given columns (aligned on the runs' index)."""
    out = pd.DataFrame({"run_id": runs["run_id"], "arm": runs["tags.arm"], "seed": runs["tags.seed"].astype(int),
                        "status": runs["status"]})
    for name, values in columns.items():
        out[name] = values.reindex(runs.index).to_numpy()
    return out.reset_index(drop=True)


def group_table(table: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Per group: n, and for each column mean, t-interval ends (NaN below 5 runs) and the per-run values."""
    rows = []
    for key, g in table.groupby(by, sort=False):
        row: dict[str, Any] = {by: key, "n": len(g)}
        for c in columns:
            s = S.summarise(g[c].tolist())
            row.update({f"{c}_mean": s.mean, f"{c}_lo": s.lo, f"{c}_hi": s.hi,
                        f"{c}_values": " ".join(f"{v:.6g}" for v in s.values)})
        rows.append(row)
    return pd.DataFrame(rows)


def fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


# --------------------------------------------------------------------------- F1: Figure 1, Example 1
def f1(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    """Per study run: R^2 of the fit estimate = K |theta| (through the origin), estimate(0) / mean estimate at
    |theta| = 1, K / K_max, the JS bound's mean over theta != 0 as a share of log 2, and at theta = 0."""
    rows, k_max = [], metric(data.runs, "fig1/k_max")
    for i, r in finished(data.runs).iterrows():
        theta, em, js = (data.curve(r.run_id, k) for k in ("fig1/theta", "estimate/em", "estimate/js"))
        steps = theta.index.intersection(em.index).intersection(js.index)
        t, e, j = theta[steps].to_numpy(), em[steps].to_numpy(), js[steps].to_numpy()
        if len(t) < 3:
            continue
        k = float((e * np.abs(t)).sum() / (t ** 2).sum())
        r2 = float(1 - ((e - k * np.abs(t)) ** 2).sum() / ((e - e.mean()) ** 2).sum())
        zero = np.abs(t) < 1e-9
        ends = np.isclose(np.abs(t), 1.0)
        rows.append({"run_id": r.run_id, "seed": int(r["tags.seed"]), "K": k, "K_max": k_max[i],
                     "K_share": k / k_max[i], "r2_abs_theta": r2,
                     "em_zero_share": float(e[zero].mean() / e[ends].mean()) if zero.any() else math.nan,
                     "js_share_of_log2": float(j[~zero].mean() / LOG2), "js_min_share_of_log2": float(j[~zero].min()
                                                                                                    / LOG2),
                     "js_zero_share": float(j[zero].mean() / LOG2) if zero.any() else math.nan})
    table = pd.DataFrame(rows)
    if table.empty:
        return Verdict("inconclusive", "no finished study run", {"per_run": table})
    if table.drop(columns=["run_id"]).isna().any().any() or len(table) < len(finished(data.runs)):
        return Verdict("inconclusive", "a study run lacks a measure (a NaN, or fewer than 3 thetas logged)",
                       {"per_run": table})
    table["pass"] = ((table["r2_abs_theta"] >= rule["r2_min"]) & (table["em_zero_share"].abs() < rule["zero_max"])
                     & (table["js_min_share_of_log2"] >= rule["js_min"])
                     & (table["js_zero_share"] < rule["js_zero_max"]))
    n_pass = int(table["pass"].sum())
    numbers = {c: S.summarise(table[c]).text() for c in ("r2_abs_theta", "em_zero_share", "K_share",
                                                          "js_min_share_of_log2", "js_share_of_log2", "js_zero_share")}
    said = (f"R^2 in |theta| {numbers['r2_abs_theta']} (rule >= {rule['r2_min']}), estimate(0)/estimate(1) "
            f"{numbers['em_zero_share']} (< {rule['zero_max']}), JS bound at its lowest theta != 0 "
            f"{numbers['js_min_share_of_log2']} of log 2 (>= {rule['js_min']}; mean {numbers['js_share_of_log2']}) "
            f"and {numbers['js_zero_share']} at 0 (< {rule['js_zero_max']}); K / K_max "
            f"{numbers['K_share']}; {n_pass} of {len(table)} runs pass")
    word = "reproduced" if n_pass == len(table) else "not reproduced"
    return Verdict(word, said, {"per_run": table}, {"runs_pass": n_pass, "runs": len(table), **numbers})


# --------------------------------------------------------------------------- F3: Figure 3
def f3(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    """Per study run: the minimax generator's gradient at the fakes over the critic's, the -log D one beside it,
    the critic's linearity between the modes and its slope against the clip's maximum."""
    runs = finished(data.runs)
    crit = metric(runs, "fig3/critic_grad_at_fake")
    table = per_run(runs, {"critic_grad": crit, "minimax_grad": metric(runs, "fig3/minimax_grad_at_fake"),
                           "nonsat_grad": metric(runs, "fig3/nonsat_grad_at_fake"),
                           "minimax_over_critic": metric(runs, "fig3/minimax_grad_at_fake") / crit,
                           "nonsat_over_critic": metric(runs, "fig3/nonsat_grad_at_fake") / crit,
                           "critic_r2": metric(runs, "fig3/critic_linearity_r2"),
                           "critic_slope_share_of_max": crit / metric(runs, "fig3/critic_slope_max")})
    if table.empty:
        return Verdict("inconclusive", "no finished study run", {"per_run": table})
    if table[["minimax_over_critic", "critic_r2"]].isna().any().any():
        return Verdict("inconclusive", "a study run lacks a measure (NaN)", {"per_run": table})
    table["pass"] = (table["minimax_over_critic"] < rule["ratio_max"]) & (table["critic_r2"] >= rule["r2_min"])
    n_pass = int(table["pass"].sum())
    numbers = {c: S.summarise(table[c]).text() for c in ("minimax_over_critic", "nonsat_over_critic", "critic_r2",
                                                          "critic_slope_share_of_max")}
    said = (f"minimax gradient at the fakes / critic's {numbers['minimax_over_critic']} (rule < {rule['ratio_max']}); "
            f"critic linearity R^2 {numbers['critic_r2']} (>= {rule['r2_min']}); {n_pass} of {len(table)} runs pass. "
            f"Not in the rule: the -log D gradient / critic's {numbers['nonsat_over_critic']}, critic slope / its "
            f"clip maximum {numbers['critic_slope_share_of_max']}")
    word = "reproduced" if n_pass == len(table) else "not reproduced"
    return Verdict(word, said, {"per_run": table}, {"runs_pass": n_pass, "runs": len(table), **numbers})


# --------------------------------------------------------------------------- F2: Figure 2, Sec. 4.1
def rotations(modes: pd.Series, shares: pd.Series, collapsed: float) -> int:
    """How often the dominant mode changes between consecutive evaluations at which the run is collapsed
    (dominant share of high-quality samples >= `collapsed`)."""
    both = pd.concat([modes, shares], axis=1, keys=["mode", "share"]).dropna()
    held = both[both["share"] >= collapsed]["mode"].to_numpy()
    return int((held[1:] != held[:-1]).sum())


def f2(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    runs = finished(data.runs)
    rot = pd.Series({i: rotations(data.curve(r.run_id, "eval/dominant_mode"), data.curve(r.run_id,
                                  "eval/dominant_share"), rule["collapsed_share"]) for i, r in runs.iterrows()},
                    dtype=float)
    table = per_run(runs, {"modes": metric(runs, "eval/modes"), "high_quality": metric(runs, "eval/high_quality"),
                           "w1": metric(runs, "eval/w1"), "w1_floor": metric(runs, "eval/w1_floor"),
                           "dominant_share": metric(runs, "eval/dominant_share"), "rotations": rot})
    table["collapsed_or_rotating"] = (table["dominant_share"] >= rule["collapsed_share"]) | (table["rotations"] >= 1)
    w, g = table[table["arm"] == "wgan"], table[table["arm"] == "gan"]
    if w.empty or g.empty:
        return Verdict("inconclusive", "a WGAN or GAN arm has no finished run", {"per_run": table})
    diff, p = S.permutation_diff(w["modes"], g["modes"])
    cover = float(w["modes"].median())
    gan_cr = float(g["collapsed_or_rotating"].mean())
    _, p_fisher = S.fisher(int(g["collapsed_or_rotating"].sum()), len(g), int(w["collapsed_or_rotating"].sum()), len(w))
    said = (f"final modes WGAN {S.summarise(w['modes']).text()} vs GAN {S.summarise(g['modes']).text()} (of "
            f"{rule['all_modes']}): difference {fmt(diff)}, permutation p = {fmt(p)} (alpha {rule['alpha']}); WGAN "
            f"median {fmt(cover)} (rule: >= {rule['cover_modes']}); GAN collapsed or rotating in "
            f"{int(g['collapsed_or_rotating'].sum())}/{len(g)} (rule: >= {rule['gan_share']:.0%}; WGAN "
            f"{int(w['collapsed_or_rotating'].sum())}/{len(w)}, Fisher p = {fmt(p_fisher)}); GAN rotations "
            f"{S.summarise(g['rotations']).text()}")
    parts = [p < rule["alpha"], cover >= rule["cover_modes"], gan_cr >= rule["gan_share"]]
    if not np.isfinite(p):
        word, said = "inconclusive", "too few runs per arm for the permutation test: " + said
    elif all(parts):
        word = "reproduced"
    elif diff <= 0 or (p < rule["alpha"] and not all(parts[1:])):
        word = "not reproduced"
    else:
        word = "inconclusive"
    return Verdict(word, said, {"per_run": table, "by_arm": group_table(table, "arm", ["modes", "high_quality",
                                                                                      "w1", "rotations"])},
                   {"diff_modes": diff, "p_perm": p, "wgan_median_modes": cover, "gan_collapsed_share": gan_cr,
                    "p_fisher": p_fisher})


# --------------------------------------------------------------------------- F7: Sec. 4.3
def per_eval(share: pd.Series, steps: np.ndarray) -> np.ndarray:
    """A per-iteration series averaged over each evaluation interval (previous evaluation, this one]."""
    out, prev = [], -1
    for s in steps:
        window = share[(share.index > prev) & (share.index <= s)]
        out.append(float(window.mean()) if len(window) else math.nan)
        prev = s
    return np.asarray(out)


def f7(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    runs = data.runs[data.runs["status"].isin(["FINISHED", "FAILED"])]
    quality, factor, persist = rule["quality"], rule["factor"], rule["persist"]
    events, series = {}, {}
    for i, r in runs.iterrows():
        q = data.curve(r.run_id, quality)
        share = data.curve(r.run_id, "optim/negative_cosine_share")
        if r["status"] == "FAILED":  # the safety net stopped it at its last logged step: counts as blown up there
            every = int(r["params.eval.every"])
            fail = int(max(share.index.max() if len(share) else 0, q.index.max() + 1 if len(q) else 1))
            q = pd.concat([q, pd.Series([math.inf] * persist, index=fail + every * np.arange(persist))])
        floor = float(r.get(f"metrics.{rule['floor']}", 0.0)) if rule.get("floor") else 0.0
        events[i] = S.instability_events(q.to_numpy(), factor, persist, floor if np.isfinite(floor) else 0.0)
        series[i] = per_eval(share, q.index.to_numpy())
    table = per_run(runs, {"events": pd.Series({i: len(e) for i, e in events.items()}, dtype=float),
                           "final_quality": metric(runs, quality),
                           "negative_share": pd.Series({i: float(np.nanmean(s)) if np.isfinite(s).any() else math.nan
                                                        for i, s in series.items()}, dtype=float)})
    table["lr"] = runs["params.optimizer.lr"].astype(float).to_numpy()
    table["group"] = table["arm"].str.split("@").str[0]
    momentum = table["group"].isin(rule["momentum_arms"])
    baseline = table["group"] == rule["baseline_arm"]
    hit_m, n_m = int((table[momentum]["events"] > 0).sum()), int(momentum.sum())
    hit_b, n_b = int((table[baseline]["events"] > 0).sum()), int(baseline.sum())
    by = group_table(table.sort_values(["group", "lr"]), "arm", ["events", "final_quality", "negative_share"])
    grid = ", ".join(sorted(table["arm"].unique()))
    if table["events"].sum() == 0:
        return Verdict("inconclusive", f"no instability event ({quality} > {factor}x max(its running best, its "
                       f"floor) for {persist} evaluations) occurred in any of {len(table)} runs; grid tried: {grid}",
                       {"per_run": table, "by_arm": by}, {"events": 0})
    odds, p_fisher = S.fisher(hit_m, n_m, hit_b, n_b)
    with_events = [i for i in table.index[momentum] if table.loc[i, "events"] > 0]
    idx = [runs.index[i] for i in with_events]
    inside, outside, p_window = S.window_permutation([series[i] for i in idx], [events[i] for i in idx],
                                                     rule["window"], persist) if idx else (math.nan, math.nan, math.nan)
    p_adj = S.holm([p_fisher, p_window if np.isfinite(p_window) else 1.0])
    said = (f"runs with an instability event: momentum (Adam beta1 in {rule['momentum_betas']}) {hit_m}/{n_m}, "
            f"RMSProp {hit_b}/{n_b} (Fisher one-sided p = {fmt(p_fisher)}, Holm {fmt(p_adj[0])}); negative-cosine "
            f"share in the {rule['window']} evaluations before an event {fmt(inside)} vs elsewhere {fmt(outside)} "
            f"(window permutation p = {fmt(p_window)}, Holm {fmt(p_adj[1])}; alpha {rule['alpha']}). RMSProp's "
            f"cosine is positive by construction: the baseline, not evidence")
    if max(p_adj) < rule["alpha"]:
        word = "reproduced"
    elif hit_m / max(n_m, 1) <= hit_b / max(n_b, 1) and hit_m + hit_b >= rule["min_event_runs"]:
        word = "not reproduced"
    else:
        word = "inconclusive"
    return Verdict(word, said, {"per_run": table, "by_arm": by},
                   {"momentum_runs_with_events": hit_m, "momentum_runs": n_m, "baseline_runs_with_events": hit_b,
                    "baseline_runs": n_b, "p_fisher": p_fisher, "share_inside": inside, "share_outside": outside,
                    "p_window": p_window})


# --------------------------------------------------------------------------- F4 / F5: a meaningful loss
def tracking(data: ClaimData, runs: pd.DataFrame, median_width: int) -> pd.DataFrame:
    """Per run: the within-run correlation of the median-filtered estimate with quality at the evaluations (raw and
    on first differences; None below 20 evaluations), first and final quality, final estimate."""
    from wgan_repro.report.tables import median_filter  # the paper's curves: a centred running median

    rows = []
    for _, r in runs.iterrows():
        est, q = data.curve(r.run_id, r["tags.estimate"]), data.curve(r.run_id, r["tags.quality"])
        row = {"run_id": r.run_id, "arm": r["tags.arm"], "seed": int(r["tags.seed"]), "evaluations": len(q),
               "first_quality": q.iloc[0] if len(q) else math.nan, "final_quality": q.iloc[-1] if len(q) else math.nan,
               "final_estimate": math.nan, "rho": math.nan, "rho_diff": math.nan, "p_diff": math.nan,
               "quality_floor": metric(runs, str(r.get("tags.quality_floor")))[_] if
               isinstance(r.get("tags.quality_floor"), str) else math.nan}
        if len(est) >= 3 and len(q):
            filtered = pd.Series(median_filter(est.to_numpy(), median_width), index=est.index)
            at = filtered.reindex(q.index, method="nearest")
            row["final_estimate"] = float(filtered.iloc[-1])
            c = S.over_training(at.to_numpy(), q.to_numpy())
            if c is not None:
                row.update(rho=c.rho, rho_diff=c.rho_diff, p_diff=c.p_diff)
        rows.append(row)
    return pd.DataFrame(rows)


def f4(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    runs = finished(data.runs)
    table = tracking(data, runs, rule["median_width"])
    if table.empty or table["rho_diff"].isna().all():
        return Verdict("inconclusive", f"fewer than {S.MIN_CURVE_POINTS} evaluations per run (or no finished run): "
                       "no correlation over training is computed", {"per_run": table})
    short = table["rho_diff"].isna()
    if short.any():
        return Verdict("inconclusive", f"{int(short.sum())} of {len(table)} runs have fewer than "
                       f"{S.MIN_CURVE_POINTS} evaluations with both measures: no correlation over training for them",
                       {"per_run": table})
    pos, n, p_sign = S.sign_test(table["rho_diff"])
    if 0.5 ** n >= rule["alpha"]:
        return Verdict("inconclusive", f"{n} runs with {S.MIN_CURVE_POINTS} evaluations cannot reach alpha "
                       f"{rule['alpha']} with a sign test (smallest p = {0.5 ** n:.3g}); first-difference rho "
                       f"{S.summarise(table['rho_diff']).text()}", {"per_run": table})
    rho_x, p_x, n_x = S.spearman_permutation(table["final_estimate"], table["final_quality"])
    p_adj = S.holm([p_sign, p_x if np.isfinite(p_x) else 1.0])
    said = (f"within runs, Spearman on first differences of (median-filtered estimate, quality) > 0 in {pos}/{n} "
            f"runs (sign test p = {fmt(p_sign)}, Holm {fmt(p_adj[0])}; raw rho {S.summarise(table['rho']).text()}, "
            f"first differences {S.summarise(table['rho_diff']).text()}); across {n_x} runs, Spearman(final "
            f"estimate, final quality) = {fmt(rho_x)} (permutation p = {fmt(p_x)}, Holm {fmt(p_adj[1])}); "
            f"alpha {rule['alpha']}")
    if max(p_adj) < rule["alpha"]:
        word = "reproduced"
    elif table["rho_diff"].median() <= 0 and np.isfinite(rho_x) and rho_x <= 0:
        word = "not reproduced"
    else:
        word = "inconclusive"
    return Verdict(word, said, {"per_run": table, "by_arm": group_table(table, "arm", ["rho_diff", "final_quality"])},
                   {"p_sign": p_sign, "rho_across": rho_x, "p_across": p_x})


def f5(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    runs = finished(data.runs)
    table = tracking(data, runs, rule["median_width"])
    gan, wgan = table[table["arm"] == rule["gan_arm"]], table[table["arm"] == rule["wgan_arm"]]
    if gan.empty or gan["rho_diff"].isna().all():
        return Verdict("inconclusive", f"no GAN run with {S.MIN_CURVE_POINTS} evaluations", {"per_run": table})
    if table["rho_diff"].isna().any():
        return Verdict("inconclusive", f"{int(table['rho_diff'].isna().sum())} of {len(table)} runs have fewer than "
                       f"{S.MIN_CURVE_POINTS} evaluations with both measures", {"per_run": table})
    improved = gan["final_quality"] < rule["improve_ratio"] * gan["first_quality"]
    diff, p = S.permutation_diff(wgan["rho_diff"], gan["rho_diff"])
    said = (f"GAN quality improved (final < {rule['improve_ratio']} x first) in {int(improved.sum())}/{len(gan)} "
            f"runs (rule: >= {rule['improved_share']:.0%}); first-difference Spearman(estimate, quality): GAN "
            f"{S.summarise(gan['rho_diff']).text()}, WGAN {S.summarise(wgan['rho_diff']).text()}; WGAN - GAN "
            f"{fmt(diff)}, permutation p = {fmt(p)} (alpha {rule['alpha']}); GAN median {fmt(gan['rho_diff'].median())}"
            f" (rule: < {rule['gan_rho_max']})")
    if not np.isfinite(p):
        word, said = "inconclusive", "too few runs per arm for the permutation test: " + said
    elif improved.mean() < rule["improved_share"]:
        word = "inconclusive"
        said = "the GAN's quality did not improve enough for Figure 9's situation: " + said
    elif p < rule["alpha"] and gan["rho_diff"].median() < rule["gan_rho_max"]:
        word = "reproduced"
    elif diff <= 0 or gan["rho_diff"].median() >= rule["gan_rho_max"]:
        word = "not reproduced"
    else:
        word = "inconclusive"
    return Verdict(word, said, {"per_run": table, "by_arm": group_table(table, "arm", ["rho_diff", "final_quality"])},
                   {"diff_rho": diff, "p_perm": p, "gan_improved": int(improved.sum())})


# --------------------------------------------------------------------------- F6: Sec. 4.4, Figures 6-8
def f6(data: ClaimData, rule: Mapping[str, Any]) -> Verdict:
    runs = data.runs[data.runs["status"].isin(["FINISHED", "FAILED"])]
    quality = pd.Series({i: r.get(f"metrics.{r['tags.quality']}", math.nan) for i, r in runs.iterrows()}, dtype=float)
    floor = pd.Series({i: r.get(f"metrics.{r['tags.quality_floor']}", math.nan) for i, r in runs.iterrows()},
                      dtype=float)
    table = per_run(runs, {"quality": quality.where(runs["status"] == "FINISHED", math.inf), "floor": floor,
                           "classes": metric(runs, "eval/classes"), "kl_classes": metric(runs, "eval/kl_classes")})
    table["collapsed"] = (table["classes"] < rule["min_classes"]) | (table["kl_classes"] > rule["max_kl"])
    table["generator"], table["objective"] = table["arm"].str.split("/").str[0], table["arm"].str.split("/").str[1]
    # learned: finished, measured, not collapsed (every class, near-uniform histogram); no quality-over-floor factor,
    # which this budget is not expected to reach (conf/claim/F6.yaml says why)
    measured = lambda g: np.isfinite(g[["quality", "classes", "kl_classes"]].astype(float)).all(axis=1)  # noqa: E731
    learned = lambda g: float((measured(g) & ~g["collapsed"]).mean())  # noqa: E731
    control = table[table["generator"] == rule["control"]]
    ctrl_ok = all(learned(control[control["objective"] == o]) >= rule["learned_share"] for o in ("wgan", "gan"))
    tests, lines = [], []
    for gen in rule["weak"]:
        w = table[(table["generator"] == gen) & (table["objective"] == "wgan")]
        for gan_arm in rule["gan_arms"]:
            g = table[(table["generator"] == gen) & (table["objective"] == gan_arm)]
            diff, p = S.permutation_diff(np.log(g["quality"].clip(upper=1e12)), np.log(w["quality"].clip(upper=1e12)))
            tests.append((gen, gan_arm, diff, p))
            lines.append(f"{gen}: log quality {gan_arm} - wgan {fmt(diff)} (p = {fmt(p)}; collapsed "
                         f"{int(g['collapsed'].sum())}/{len(g)} vs {int(w['collapsed'].sum())}/{len(w)})")
    p_adj = S.holm([t[3] if np.isfinite(t[3]) else 1.0 for t in tests])
    shares = ", ".join(f"{o} {learned(control[control['objective'] == o]):.0%}" for o in ("wgan", "gan"))
    said = (f"{rule['control']} arms: both objectives learn (finished with >= {rule['min_classes']} classes and "
            f"KL <= {rule['max_kl']} in >= {rule['learned_share']:.0%} of runs; {shares}): "
            f"{'yes' if ctrl_ok else 'no'}; " + "; ".join(lines)
            + f"; Holm-adjusted p {', '.join(fmt(p) for p in p_adj)} (alpha {rule['alpha']})")
    if not all(np.isfinite(t[3]) for t in tests):
        word, said = "inconclusive", "too few runs per arm for the permutation tests: " + said
    elif not ctrl_ok:
        word = "inconclusive"
        said = "the control did not learn with both objectives, so a failure elsewhere decides nothing: " + said
    elif max(p_adj) < rule["alpha"]:
        word = "reproduced"
    elif any(t[2] <= 0 for t in tests):
        word = "not reproduced"
    else:
        word = "inconclusive"
    by = group_table(table, "arm", ["quality", "kl_classes", "classes"])
    return Verdict(word, said, {"per_run": table, "by_arm": by}, {"control_learns": ctrl_ok,
                                                                   "p_holm": p_adj})


RULES: dict[str, Callable[[ClaimData, Mapping[str, Any]], Verdict]] = {
    "f1": f1, "f2": f2, "f3": f3, "f4": f4, "f5": f5, "f6": f6, "f7": f7}
