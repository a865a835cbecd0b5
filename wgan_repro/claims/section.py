"""A claim's section: Markdown, HTML rendered from it by the `markdown` library (figures embedded), every table as a
tidy numeric CSV, a figure, the data export and verdict.json (what the index reads)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from wgan_repro.claims.data import ClaimData, export  # noqa: E402
from wgan_repro.claims.rules import Verdict  # noqa: E402

STRIPS = {"f2": ["modes", "rotations"], "f3": ["minimax_over_critic", "nonsat_over_critic"],
          "f4": ["rho_diff", "final_quality"], "f5": ["rho_diff", "final_quality"], "f6": ["quality", "kl_classes"],
          "f7": ["events", "negative_share"]}  # per-run columns drawn per arm
AXIS = {"rho_diff": "Spearman(estimate, quality),\nfirst differences (> 0: they move together)",
        "final_quality": "final quality (the run's measure;\nlower is better)",
        "quality": "final quality (lower is better)",
        "modes": "modes covered", "rotations": "mode rotations", "kl_classes": "KL(class histogram || uniform)",
        "minimax_over_critic": "minimax generator gradient /\nclipped critic's", "nonsat_over_critic":
        "-log D generator gradient /\nclipped critic's", "events": "instability events per run",
        "negative_share": "share of critic steps\nagainst the gradient"}  # per-run columns' axis labels
CURVES = {"f4", "f5"}  # rules whose figure also draws each run over training (through the rule's median_width)
LOG_SCALE = {"minimax_over_critic", "nonsat_over_critic", "quality", "final_quality"}
STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45;padding:0 1em}"
         "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
         "th{background:#f3f3f3}img{max-width:100%}code{background:#f5f5f5;padding:0 3px}"
         ".verdict{font-size:1.15em;padding:.6em;border-left:5px solid #888;background:#fafafa}")


def log_scale(ax: Any) -> None:
    """A log y axis whose tick labels are plain numbers (600, 1000, 2000), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:.4g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)


def curves_panels(data: ClaimData, colour: Mapping[str, str], axes: Any, median_width: int) -> None:
    """Over generator iterations, one line per run coloured by arm: each estimate (one panel per quantity: the EM and
    JS estimates do not share an axis) through the rule's running median, as the paper's Figure 4 draws it, then
    quality at the evaluations (log scale: it falls by orders)."""
    from wgan_repro.report.tables import median_filter

    estimates = list(dict.fromkeys(data.runs["tags.estimate"]))
    qualities = " / ".join(dict.fromkeys(data.runs["tags.quality"]))
    labelled: set[tuple[int, str]] = set()  # (panel, arm): one legend entry per arm and panel

    def label(panel: int, arm: str) -> str:
        new = (panel, arm) not in labelled
        labelled.add((panel, arm))
        return arm if new else "_nolegend_"

    for _, r in data.runs.iterrows():
        arm, panel = r["tags.arm"], estimates.index(r["tags.estimate"])
        est, q = data.curve(r.run_id, r["tags.estimate"]), data.curve(r.run_id, r["tags.quality"])
        if len(est):
            axes[panel].plot(est.index, median_filter(est.to_numpy(), median_width), color=colour[arm], lw=1,
                             label=label(panel, arm))
        if len(q):
            axes[len(estimates)].plot(q.index, q.to_numpy(), ".-", color=colour[arm], lw=1, ms=3,
                                      label=label(len(estimates), arm))
    for ax, name in zip(axes, estimates):
        ax.set_ylabel(f"{name}\n(running median of {median_width})", fontsize=9)
    axes[len(estimates)].set_ylabel(f"{qualities} (lower is better)", fontsize=9)
    log_scale(axes[len(estimates)])
    for ax in axes[:len(estimates) + 1]:
        ax.set_xlabel("generator iterations", fontsize=9)
        ax.legend(fontsize=8, title="arm", title_fontsize=8)
        ax.grid(alpha=0.3)


def figure(claim_id: str, rule: Mapping[str, Any], data: ClaimData, verdict: Verdict, path: Path) -> Path | None:
    """One figure per claim, drawn from the exported data alone."""
    rule_name = rule["name"]
    table = verdict.tables.get("per_run", pd.DataFrame())
    if rule_name == "f1":
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for _, r in data.runs.iterrows():
            theta, em, js = (data.curve(r.run_id, k) for k in ("fig1/theta", "estimate/em", "estimate/js"))
            k = float((em.to_numpy() * np.abs(theta.to_numpy())).sum() / (theta.to_numpy() ** 2).sum() or 1)
            axes[0].plot(theta, em / k, "o", ms=4, label=f"seed {r['tags.seed']}: estimate / {k:.3g}")
            axes[1].plot(theta, js, "o", ms=4, label=f"seed {r['tags.seed']}")
        grid = np.linspace(-1, 1, 201)
        axes[0].plot(grid, np.abs(grid), "k-", lw=1, label=r"$|\theta|$")
        axes[1].plot(grid, np.where(grid == 0, 0, np.log(2)), "k-", lw=1, label="JS = log 2")
        for ax, name in zip(axes, ("EM estimate, rescaled", "JS lower bound")):
            ax.set_xlabel(r"$\theta$")
            ax.set_ylabel(name)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    elif rule_name in STRIPS and not table.empty:
        columns = [c for c in STRIPS[rule_name] if c in table]
        top = len(set(data.runs["tags.estimate"])) + 1 if rule_name in CURVES else 0  # estimates and quality
        width = max(top, len(columns))
        fig, axes = plt.subplots(2 if top else 1, width, figsize=(5.2 * width, 7.6 if top else 3.8), squeeze=False)
        arms = list(dict.fromkeys(table["arm"]))
        colour = {a: f"C{i}" for i, a in enumerate(dict.fromkeys([*arms, *data.runs["tags.arm"]]))}  # failed too
        if top:
            curves_panels(data, colour, axes[0], rule["median_width"])
        for ax in [*(axes[0][top:] if top else []), *axes[-1][len(columns):]]:  # panels a row does not fill
            ax.set_visible(False)
        for ax, col in zip(axes[-1], columns):
            for i, a in enumerate(arms):
                y = table.loc[table["arm"] == a, col].astype(float).to_numpy()
                ax.plot(np.full(len(y), i) + np.linspace(-0.15, 0.15, len(y)), y, "o", ms=5, color=colour[a])
            ax.set_xticks(range(len(arms)), arms, rotation=30 if len(arms) > 4 else 0, ha="right" if len(arms) > 4
                          else "center", fontsize=8)
            ax.set_xlim(-0.5, len(arms) - 0.5)
            ax.set_ylabel(AXIS.get(col, col.replace("_", " ")), fontsize=9)
            if col in LOG_SCALE and (table[col] > 0).all():
                log_scale(ax)
            ax.grid(alpha=0.3)
    else:
        return None
    what = {"f1": "one point per theta and run"}.get(rule_name, "each run over training (top), one point per run "
                                                             "(bottom)" if rule_name in CURVES else "one point per run")
    fig.suptitle(f"{claim_id}: {what}", fontsize=11)
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


def render(claim: DictConfig, budget: str, data: ClaimData, verdict: Verdict, meta: Mapping[str, Any],
           out_dir: Path, notes: list[str]) -> dict[str, Any]:
    """Write the section into out_dir; returns what verdict.json holds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    export(data, out_dir / "data")
    for name, table in verdict.tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False, float_format="%.10g")
    fig = figure(claim.id, claim.rule, data, verdict, out_dir / "figure.png")
    rule = OmegaConf.to_container(claim.rule)
    changes = changes_after(claim, meta["commit"])
    changed = (f" <i>The rule was changed after its runs ({len(changes)} change{'s' if len(changes) > 1 else ''}, "
               "below).</i>" if changes else "")
    lines = [f"# {claim.id}: {claim.title}", "",
             f"<p class='verdict'><b>Verdict ({budget}): {verdict.word}.</b> {verdict.reason}.{changed}</p>", "",
             f"**The paper.** {claim.paper}", "", f"**Measures.** {claim.measures}", "",
             f"**Statistic.** {claim.statistic}", "", f"**Rule** (`conf/claim/{claim.id}.yaml`, fixed at commit "
             f"`{short(meta['rule_commit'])}`, before the runs): {claim.rule_text}", "",
             f"Thresholds: `{json.dumps(rule)}`", "",
             *[line for c in changes for line in (
                 f"**Changed after the runs** ({c.date}). {c.what} *Why:* {c.why} *The verdict the rule gave before "
                 f"the change:* {c.before}", "")],
             f"**Runs.** {meta['n_runs']} runs at budget `{budget}` from commit `{short(meta['commit'])}` "
             f"(tree clean: {meta['clean']}); wall time {meta['wall']}; machine: {meta['machine']}.", "",
             f"Command: `{meta['command']}`", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    if fig is not None:
        lines += ["## Figure", "", f"![{claim.id}]({fig.name})", ""]
    for name, table in verdict.tables.items():
        lines += [f"## {name.replace('_', ' ')} (`{name}.csv`)", "", markdown_table(table), ""]
    lines += ["## Data", "", "`data/runs.csv` (one row per run: tags, params, final metrics) and `data/curves.csv.gz` "
              "(run_id, key, step, value) hold everything the verdict is computed from; "
              f"`python -m wgan_repro.reproduce claim={claim.id} budget={budget} render_from={out_dir}/data` "
              "re-renders this section from them.", ""]
    discussion = out_dir / "DISCUSSION.md"
    if discussion.is_file():
        lines += ["## Discussion (hand-written, not part of the rule)", "", discussion.read_text().strip(), ""]
    text = "\n".join(lines)
    (out_dir / "section.md").write_text(text)
    (out_dir / "section.html").write_text(to_html(text, out_dir, f"{claim.id}: {claim.title}"))
    record = {"claim": claim.id, "title": claim.title, "verdict": verdict.word, "reason": verdict.reason,
              "changed_after_runs": [{"date": c.date, "before": c.before} for c in changes],
              "budget": budget, **{k: meta[k] for k in ("n_runs", "commit", "clean", "rule_commit", "wall",
                                                        "wall_s", "machine", "command")},
              "numbers": {k: (v if isinstance(v, (int, float, str, bool, list)) else str(v))
                          for k, v in verdict.numbers.items()}}
    (out_dir / "verdict.json").write_text(json.dumps(record, indent=1, default=str))
    return record


def to_html(text: str, folder: Path, title: str) -> str:
    """Markdown -> a self-contained page (the `markdown` library; images embedded as data URIs)."""
    import markdown

    body = markdown.markdown(text, extensions=["tables", "fenced_code"])

    def embed(match: re.Match) -> str:
        path = folder / match.group(1)
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^":]+\.png)"', embed, body)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def index(folder: Path, title: str = "wgan_repro: the reference reproduction") -> Path:
    """README.md (and index.html) over every section under `folder`: one row per claim with its verdict."""
    from wgan_repro.claims import claim_ids, load_claim

    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*/verdict.json"))]
    done = {r["claim"] for r in records}
    rows = [{"claim": f"[{r['claim']}]({r['claim']}/section.md)", "what the paper says": r["title"],
             "verdict": f"**{r['verdict']}**" + (f" ({CHANGED})" if r.get("changed_after_runs") else ""),
             "budget": r["budget"], "runs": r["n_runs"],
             "commit": f"`{short(r['commit'])}`", "wall": r["wall"]} for r in records]
    rows += [{"claim": c, "what the paper says": load_claim(c).title, "verdict": "not run yet", "budget": "",
              "runs": 0, "commit": "", "wall": ""} for c in claim_ids() if c not in done]
    rows.sort(key=lambda r: r["claim"].strip("["))
    intro = folder / "INTRO.md"
    text = "\n".join([f"# {title}", "", intro.read_text().strip() if intro.is_file() else "", "",
                      pd.DataFrame(rows).to_markdown(index=False) if rows else "No claim has been run yet.", "",
                      *[f"- **{r['claim']}** ({r['verdict']}{'; ' + CHANGED if r.get('changed_after_runs') else ''}): "
                        f"{r['reason']}." for r in records], ""])
    (folder / "README.md").write_text(text)
    (folder / "index.html").write_text(to_html(text.replace("/section.md)", "/section.html)"), folder, title))
    return folder / "README.md"


CHANGED = "rule changed after the runs"  # the index's mark on a claim whose rule changed after its runs
README_MARKERS = ("<!-- reference:start -->", "<!-- reference:end -->")


def readme_summary(index_text: str, prefix: str = "reports/reference/") -> str:
    """The project README's summary of the reproduction: the index's verdict table (links re-rooted at `prefix`)
    and its verdict lines, between README_MARKERS: every claim, not a selection."""
    lines = index_text.splitlines()
    table = "\n".join(line for line in lines if line.startswith("|")).replace("](", f"]({prefix}")
    verdicts = "\n".join(line for line in lines if line.startswith("- **"))
    return f"{README_MARKERS[0]}\n{table}\n\n{verdicts}\n{README_MARKERS[1]}"


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
