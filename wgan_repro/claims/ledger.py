"""Each claim's seed ledger (reports/ledger/<ID>.yaml): every seed an earlier run of the claim used. Training is
deterministic, so a seed already run is data already seen: a confirmatory run on it would repeat the data a rule,
a gate or a resolution may have been revised on. `reproduce` refuses such seeds for a confirmatory budget (cpu,
full) unless `replicate=<commit>` says the runs replicate that commit (the section then says so), and records the
seeds it launches. Pilots and smoke runs draw from PILOT_SEEDS, a range no confirmatory budget may use.

A ledger is per claim and per seed, across arms: a seed any arm of the claim ran is spent for all of them (an arm's
configuration may not have changed between editions, and checking that would trust more than the seed).
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import yaml

from wgan_repro.claims import PILOT_SEEDS, REPO

LEDGER_DIR = REPO / "reports" / "ledger"
CONFIRMATORY = ("cpu", "full")


@dataclass
class Entry:
    """Seeds one set of runs used: arm -> seeds ('*': every arm), where the runs are, the commit they ran at."""

    seeds: dict[str, list[int]]
    where: str
    commit: str = ""
    budget: str = ""
    what: str = ""
    parent: str = ""  # the MLflow parent run that launched them (a relaunch of the same parent is not a new look)

    def all_seeds(self) -> set[int]:
        return {int(s) for seeds in self.seeds.values() for s in seeds}


@dataclass
class Ledger:
    claim: str
    entries: list[Entry] = field(default_factory=list)

    def seen(self, exclude_parent: str = "") -> dict[int, list[Entry]]:
        """seed -> the entries that used it, leaving out a relaunch's own parent."""
        out: dict[int, list[Entry]] = {}
        for e in self.entries:
            if exclude_parent and e.parent == exclude_parent:
                continue
            for s in e.all_seeds():
                out.setdefault(s, []).append(e)
        return out

    def commits(self) -> list[str]:
        return sorted({e.commit for e in self.entries if e.commit})


def same_commit(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n >= 7 and a[:n] == b[:n]


def path(claim_id: str, folder: Path | None = None) -> Path:
    return Path(folder or LEDGER_DIR) / f"{claim_id}.yaml"


HEADER = ("# The seed ledger of claim {id}: every seed an earlier run of the claim used (training is deterministic: a\n"
          "# seed already run is data already seen). `python -m wgan_repro.reproduce` refuses these seeds for a\n"
          "# confirmatory budget (replicate=<commit> runs them as a replication of that commit) and adds the seeds it\n"
          "# launches. Written by wgan_repro/claims/ledger.py.\n")


def load(claim_id: str, folder: Path | None = None) -> Ledger:
    p = path(claim_id, folder)
    if not p.is_file():
        return Ledger(claim_id)
    raw = yaml.safe_load(p.read_text()) or {}
    return Ledger(claim_id, [Entry(**{**e, "seeds": {str(k): [int(s) for s in v] for k, v in e["seeds"].items()}})
                             for e in raw.get("entries", [])])


def save(ledger: Ledger, folder: Path | None = None) -> Path:
    p = path(ledger.claim, folder)
    p.parent.mkdir(parents=True, exist_ok=True)
    body = {"claim": ledger.claim, "entries": [{k: v for k, v in asdict(e).items() if v not in ("", {})}
                                               for e in ledger.entries]}
    p.write_text(HEADER.format(id=ledger.claim) + yaml.safe_dump(body, sort_keys=False, width=120,
                                                                  default_flow_style=None))
    return p


def by_arm(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, set[int]] = {}
    for arm, seed in pairs:
        out.setdefault(str(arm), set()).add(int(seed))
    return {arm: sorted(seeds) for arm, seeds in sorted(out.items())}


def refusal(ledger: Ledger, budget: str, arms: Mapping[str, Sequence[int]], replicate: str | None,
            parent: str = "") -> str | None:
    """Why a launch may not use its seeds (None: it may): a confirmatory budget on seeds the ledger holds, unless it
    replicates a commit the ledger knows; a replicate= commit the ledger does not know."""
    if budget not in CONFIRMATORY:
        return None
    if replicate:
        if not any(same_commit(replicate, c) for c in ledger.commits()):
            return (f"replicate={replicate}: not a commit whose runs claim {ledger.claim}'s ledger holds; allowed: "
                    f"{', '.join(c[:10] for c in ledger.commits()) or 'none (nothing to replicate)'}")
        return None
    seen = ledger.seen(exclude_parent=parent)
    used = sorted({int(s) for seeds in arms.values() for s in seeds} & set(seen))
    if not used:
        return None
    where = "; ".join(f"seed{'s' if len(ss) > 1 else ''} {span(ss)}: {w}" for w, ss in group_where(used, seen).items())
    return (f"claim {ledger.claim}, budget {budget}: seeds already run ({where}); training is deterministic, so these "
            f"runs would repeat data already seen. Use unseen seeds in the claim file (none of "
            f"{span(sorted(seen))}; pilots use {PILOT_SEEDS.start}-{PILOT_SEEDS.stop - 1}), or replicate=<commit> "
            f"to run them as a replication of {', '.join(c[:10] for c in ledger.commits())}")


def group_where(seeds: Sequence[int], seen: Mapping[int, list[Entry]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for s in seeds:
        key = ", ".join(dict.fromkeys(f"{e.where}" + (f" (commit {e.commit[:7]})" if e.commit else "")
                                      for e in seen[s]))
        out.setdefault(key, []).append(s)
    return out


def span(seeds: Sequence[int]) -> str:
    """0-4, 7, 9: runs of consecutive seeds joined."""
    seeds, parts = sorted(seeds), []
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(f"{seeds[i]}-{seeds[j]}" if j > i + 1 else ", ".join(map(str, seeds[i:j + 1])))
        i = j + 1
    return ", ".join(parts)


def record(ledger: Ledger, entry: Entry, folder: Path | None = None) -> Path:
    """Add the seeds of a launch's round (one entry per parent run: a later round, or a relaunch, adds its seeds to
    it) and write the ledger."""
    same = next((e for e in ledger.entries if entry.parent and e.parent == entry.parent), None)
    if same is None:
        ledger.entries.append(entry)
    else:
        same.seeds = by_arm([*((a, s) for a, ss in same.seeds.items() for s in ss),
                             *((a, s) for a, ss in entry.seeds.items() for s in ss)])
    return save(ledger, folder)


def independence(ledger: Ledger, runs: pd.DataFrame, commits: Sequence[str], replicate: str | None = None
                 ) -> tuple[str, list]:
    """A section's seed-independence label, and the run ids that repeat data seen before its runs (seeds of other
    commits' runs, in the ledger; `commits`: those of the section's own runs)."""
    if replicate:
        return f"a replication of commit {replicate[:10]}, not an independent confirmation", []
    own = [c for c in commits if c]
    seen = {s: [e for e in es if not any(same_commit(e.commit, c) for c in own)]
            for s, es in ledger.seen().items()}
    seen = {s: es for s, es in seen.items() if es}
    seeds = runs["tags.seed"].astype(int)
    repeat = runs.loc[seeds.isin(set(seen)), "run_id"].tolist()
    if not repeat:
        return f"every run fresh: none of its {len(runs)} runs' seeds was run by an earlier run of this claim", []
    used = sorted(set(seeds[seeds.isin(set(seen))]))
    places: dict[str, list[int]] = {}
    for s in used:
        for e in seen[s]:
            places.setdefault(e.where + (f" (commit {e.commit[:7]})" if e.commit else ""), []).append(s)
    where = "; ".join(f"{span(ss)} by {w}" for w, ss in places.items())
    return (f"{len(repeat)} of {len(runs)} runs repeat data already seen (seed{'s' if len(used) > 1 else ''} "
            f"{where}); training is deterministic, so these runs are not an independent confirmation of a rule "
            "revised on that data", repeat)


# --------------------------------------------------------------------------- the ledger from what the project holds
def git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, timeout=60)
    return out.stdout if out.returncode == 0 else ""


def from_history(claim_id: str, smoke_seeds: Sequence[int] = (0,)) -> Ledger:
    """A claim's ledger from every version of its committed export in git history (one entry per commit of runs),
    the first edition's runs (seeds 0-2 of its experiments, which every claim's arms drew on) and the smoke runs
    every test session made (seed 0, before PILOT_SEEDS). The committed ledgers began as this (2026-12-07); a test
    checks they still hold all of it."""
    export = f"reports/reference/{claim_id}/data/runs.csv"
    entries: dict[str, Entry] = {}
    for sha in git("log", "--format=%h", "--", export).split():
        text = git("show", f"{sha}:{export}")
        if not text.strip():
            continue
        runs = pd.read_csv(io.StringIO(text), dtype=str)
        for commit, rows in runs.groupby(runs.get("tags.git_commit", pd.Series("unknown", index=runs.index))):
            budget = str(rows["tags.budget"].iloc[0]) if "tags.budget" in rows else ""
            entries.setdefault(commit, Entry(
                by_arm(zip(rows["tags.arm"], rows["tags.seed"].astype(int))), f"reports/reference/{claim_id}/data",
                commit[:10], budget, f"{len(rows)} runs, the export as committed at {sha}"))
    first = REPO / "reports" / "reference-2026-11-27-superseded" / "runs.csv"
    out = list(reversed(list(entries.values())))  # oldest first
    if first.is_file():
        seeds = sorted({int(s) for s in pd.read_csv(first)["name"].str.extract(r"-s(\d+)$")[0].dropna()})
        out.insert(0, Entry({"*": seeds}, "the first edition (reports/reference-2026-11-27-superseded)",
                            what="the first edition's experiments, which this claim's arms drew on"))
    out.insert(0, Entry({"*": list(smoke_seeds)}, "smoke runs", budget="smoke",
                        what="every test session's pipeline check before 2026-12-07: a prefix of the same training"))
    return Ledger(claim_id, out)
