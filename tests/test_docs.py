"""The README and docs/ cannot rot: every command they show composes and validates in-process (the same composition
and checks the command runs before any work), the README stays short with a claim's command near its top, and its
verdict table is the index's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from omegaconf import open_dict

from wgan_repro import cli
from wgan_repro.config import check_ranges, validate

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONFIGS = {"wgan_repro": "config", "wgan_repro.reproduce": "reproduce", "wgan_repro.report": "report",
           "wgan_repro.evaluate": "evaluate", "wgan_repro.bench": "bench"}


def commands() -> list[tuple[str, str]]:
    """(page, command) for every `python -m wgan_repro...` line in the pages' code blocks."""
    out = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():  # continuation lines joined
                line = line.split("  #")[0].strip()
                if line.startswith("python -m wgan_repro") and "<" not in line and "..." not in line:
                    out.append((page.name, line))
    return out


COMMANDS = commands()


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) > 30 and {c.split()[2] for _, c in COMMANDS} >= set(CONFIGS)


@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{p}: {c[17:70]}" for p, c in COMMANDS])
def test_every_command_shown_composes_and_validates(page: str, command: str) -> None:
    words = shlex.split(command)
    module, argv = words[2], words[3:]
    if module == "wgan_repro.store" or "--help" in argv or "--cfg" in argv:
        return
    if module == "wgan_repro.evaluate":
        from wgan_repro.evaluate.__main__ import hydra_args

        argv = hydra_args(argv)
    flags, overrides = cli.split_argv(argv)
    config_dir = flags.get("--config-dir")
    config_dir = str(REPO / config_dir) if config_dir else None
    for single in cli.single_runs(overrides):
        cfg = cli.compose_app(str(flags.get("--config-name") or CONFIGS[module]), single, config_dir)
        check_ranges(cfg, "")
        if module == "wgan_repro":
            with open_dict(cfg):
                del cfg["hydra"]
            validate(cfg)


def test_the_readme_is_short_and_starts_with_what_reproduces() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.encode()) <= 12 * 1024
    first = next(i for i, line in enumerate(text.splitlines()) if "python -m wgan_repro.reproduce" in line)
    assert first < 60
    assert "../shared" not in text and all("../shared" not in p.read_text() for p in PAGES)
    for link in re.findall(r"\]\(((?:docs|reports)/[^)#]+)\)", text):
        assert (REPO / link).exists(), link


def test_the_readmes_claim_command_says_the_runs_and_wall_its_plan_gives() -> None:
    """The README's example claim (F7) names as many runs at the cap as its budget has, the wall its plan prints from
    the committed pilot and the runs it expects (a simulation: within one run), so none rots when the budget
    changes."""
    from wgan_repro.claims import jobs, load_claim
    from wgan_repro.claims.plan import default_pilot, make

    readme = (REPO / "README.md").read_text().splitlines()
    line = next(line for line in readme if "budget=cpu  " in line and "runs at the cap" in line)
    runs, minutes, expected = map(int, re.search(r"(\d+) runs at the cap \(plan: (\d+) min\), about (\d+) expected",
                                                 line).groups())
    claim = load_claim("F7")
    plan = make(claim, "cpu", default_pilot("F7", REPO))
    assert runs == len(jobs(claim, "cpu")) == plan.cap_runs
    assert minutes == round(plan.wall_min) and abs(expected - plan.expected_runs) <= 1
