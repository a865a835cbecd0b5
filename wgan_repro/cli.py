"""What every command does before its work: `--help` written from the schema, and one error contract.

Each command (`python -m wgan_repro`, `.reproduce`, `.report`, `.evaluate`, `.bench`) enters through `run`:

1. `--help` / `-h` prints the command's config groups with their choices and every key with its type, default and
   one-line doc, read from the typed schema of the config the arguments compose (so `optimizer=adam --help` shows
   Adam's keys), then Hydra's own flags.
2. Before Hydra starts (so before any `outputs/` or `multirun/` folder, store file, run or parent run exists) the
   arguments are composed exactly as Hydra will compose them, every value of every sweep list on its own, and the
   command's own checks run (ranges and cross-field rules, folders that must be writable, a store that must exist).
   Any refusal, Hydra's own included, prints one line `error: <key>=<value>: <what is allowed>` and exits 2.
3. Combinations that make little sense but that a committed sweep uses are warned about, not refused.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any, Callable, Iterable

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import setup_globals
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from wgan_repro.app_schema import register_app_configs
from wgan_repro.config import CONF_DIR, ConfigError, check_ranges
from wgan_repro.schema import register_configs
from wgan_repro.store import resolve_uri, sqlite_path

EXIT_BAD_INPUT = 2
VALUE_FLAGS = {"--config-dir", "-cd", "--config-name", "-cn", "--config-path", "-cp", "--cfg", "-c", "--package",
               "-p", "--info", "-i", "--shell-completion", "-sc", "--experimental-rerun"}
BARE_FLAGS = {"--multirun", "-m", "--resolve", "--run", "-r", "--hydra-help", "--version", "--help", "-h"}
HYDRA_FLAGS_HELP = """Hydra's own flags:
  --multirun, -m            run a sweep: every combination of the comma-separated values (key=a,b)
  --cfg job                 print the composed config and exit (--resolve to resolve interpolations)
  --config-dir DIR, --config-name NAME   compose another primary config (sweeps/*.yaml)
  hydra/launcher=joblib     run a sweep's jobs in parallel (hydra.launcher.n_jobs=2); submitit_slurm on a cluster
  --hydra-help              Hydra's own help page"""


class BadInput(Exception):
    """Refused input: its one line names the key, the value and what is allowed."""


# --------------------------------------------------------------------------- arguments
def split_argv(argv: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    """(Hydra's flags, the overrides) of a command line."""
    flags: dict[str, str | bool] = {}
    overrides, i = [], 0
    while i < len(argv):
        word = argv[i]
        name, _, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in VALUE_FLAGS:
            value = inline or (argv[i + 1] if i + 1 < len(argv) else "")
            flags[name] = value
            i += 1 if inline else 2
            continue
        if word in BARE_FLAGS:
            flags[word] = True
        else:
            overrides.append(word)
        i += 1
    return flags, overrides


def loader(config_dir: str | None) -> Any:
    """Hydra's own config loader over conf/ (and --config-dir first, as Hydra puts it)."""
    search_path = create_config_search_path(str(CONF_DIR))
    if config_dir:
        search_path.prepend("command-line", f"file://{Path(config_dir).resolve()}")
    return ConfigLoaderImpl(config_search_path=search_path)


def compose_app(config_name: str, overrides: list[str], config_dir: str | None = None) -> DictConfig:
    """The config Hydra will compose for these (non-sweep) overrides, with its hydra node."""
    setup_globals()  # Hydra's resolvers (${now:...} in hydra.run.dir)
    register_configs()
    register_app_configs()
    return loader(config_dir).load_configuration(config_name=config_name, overrides=overrides,
                                                 run_mode=RunMode.RUN)


def single_runs(overrides: list[str]) -> list[list[str]]:
    """The argument lists that test every value of every sweep list once (the others at their first value)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    first = [o.input_line if not o.is_sweep_override() else f"{o.get_key_element()}={next(iter(values(o)))}"
             for o in parsed]
    lists = [first]
    for i, o in enumerate(parsed):
        if o.is_sweep_override():
            for v in list(values(o))[1:]:
                lists.append([*first[:i], f"{o.get_key_element()}={v}", *first[i + 1:]])
    return lists


def values(override: Any) -> Iterable[str]:
    """A sweep override's values as override strings (a range or a choice list)."""
    return [str(v) if not isinstance(v, str) else v for v in override.sweep_string_iterator()]


# --------------------------------------------------------------------------- errors in one line
def explain(exc: BaseException, overrides: list[str]) -> str:
    """One line for an error Hydra or OmegaConf raised: the key, the value and what is allowed."""
    chain, cause = [], exc
    while cause is not None and len(chain) < 8:  # Hydra wraps OmegaConf's error, which holds the key
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = "\n".join(chain)
    given = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    said = lambda key: f"{key}={given[key]}" if key in given else key  # noqa: E731
    m = re.search(r"Could not find '([^']+)/([^']+)'.*?Available options in '[^']+':\s*(.*)", text, re.S)
    if m:
        group, choice, options = m.groups()
        allowed = ", ".join(o.strip() for o in options.split("Config search path")[0].split() if o.strip())
        return f"{group.split('/')[-1]}={choice}: no such choice; allowed: {allowed}"
    key_m = re.search(r"full_key: (\S+)", text)
    m = re.search(r"Key '([^']+)' (?:is not in struct|not in '[^']*')", text)
    if m and key_m:
        return f"{said(key_m.group(1))}: no such key; {allowed_keys(key_m.group(1), overrides)}"
    if type(exc).__name__ == "OverrideParseException" or "Error parsing override" in text:
        bad = next((o for o in overrides if not parses(o)), overrides[0] if overrides else "")
        return (f"{bad}: cannot be read as an override (key=value; quote a value holding brackets, commas or "
                f"spaces: 'key=\"...\"')")
    m = re.search(r"Invalid value '([^']*)', expected one of \[([^\]]*)\]", text)
    if m and key_m:
        return f"{key_m.group(1)}={m.group(1)}: allowed: {m.group(2)}"
    m = re.search(r"Value '([^']*)'(?: of type '[^']*')? could not be converted to (\w+)", text)
    if m and key_m:
        return f"{key_m.group(1)}={m.group(1)}: expected {m.group(2).lower()}{doc_of(key_m.group(1), overrides)}"
    m = re.search(r"Value '([^']*)' is not a valid bool", text)
    if m and key_m:
        return f"{key_m.group(1)}={m.group(1)}: expected true or false{doc_of(key_m.group(1), overrides)}"
    if "is not a ListConfig, list or tuple" in text and key_m:  # a scalar where the schema takes a list
        key = key_m.group(1)
        return (f"{said(key)}: expected a list, e.g. {key}=[{given.get(key, 'a')},...]"
                f"{doc_of(key, overrides)}")
    m = re.search(r"Missing mandatory value: (\S+)", text) or re.search(r"You must specify '([^']+)'", text)
    if m:
        key = m.group(1).split("/")[-1]
        return f"{key}: missing; allowed: {', '.join(group_choices(key)) or 'see --help'}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first + (f" ({key_m.group(1)})" if key_m and key_m.group(1) not in first else "")


def parses(override: str) -> bool:
    try:
        OverridesParser.create().parse_overrides([override])
        return True
    except Exception:  # noqa: BLE001 - any parse error
        return False


def allowed_keys(key: str, overrides: list[str]) -> str:
    """The keys a misspelt one could have meant: its parent's keys in the default composition."""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    try:
        node = OmegaConf.select(compose_app(CURRENT["config"], [o for o in overrides if not o.startswith(key)],
                                            CURRENT.get("config_dir")), parent) if parent else None
    except Exception:  # noqa: BLE001 - the hint is optional; the refusal stands
        node = None
    if isinstance(node, DictConfig):
        return f"allowed keys of {parent}: {', '.join(sorted(str(k) for k in node.keys()))}"
    return "see --help for the keys"


def doc_of(key: str, overrides: list[str]) -> str:
    """The key's one-line doc, from the schema the other arguments compose ("" when they do not)."""
    try:
        keys = schema_keys(CURRENT["config"], [o for o in overrides if not o.lstrip("+~").startswith(f"{key}=")],
                           CURRENT.get("config_dir"))
    except Exception:  # noqa: BLE001 - the doc is a hint; the refusal stands
        return ""
    return next((f" ({doc})" for path, _, _, doc in keys if path == key and doc), "")


def group_choices(group: str) -> list[str]:
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


CURRENT: dict[str, Any] = {"config": "config"}  # the command being checked (its config name and --config-dir)


# --------------------------------------------------------------------------- help
def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return f"{type_name(inner[0])} or null" if inner else "null"
    if origin in (list, tuple):
        return f"list[{', '.join(type_name(a) for a in typing.get_args(hint))}]"
    if origin is dict:
        return "dict"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return " | ".join(m.value for m in hint)
    return getattr(hint, "__name__", str(hint))


def schema_keys(config_name: str, overrides: list[str], config_dir: str | None = None
                ) -> list[tuple[str, str, str, str]]:
    """(key, type, default, doc) of every documented key of the composed config, walking its typed nodes. A
    mandatory group left out (reproduce's claim) takes its first choice, so that the keys can be listed."""
    overrides = list(overrides)
    for _ in range(3):
        try:
            cfg = compose_app(config_name, overrides, config_dir)
            break
        except ConfigCompositionException as exc:
            m = re.search(r"You must specify '([^']+)'", str(exc))
            if not m or not group_choices(m.group(1)):
                raise
            overrides.append(f"{m.group(1)}={group_choices(m.group(1))[0]}")
    out: list[tuple[str, str, str, str]] = []

    def walk(node: DictConfig, prefix: str) -> None:
        schema = OmegaConf.get_type(node)
        if schema is None or not dataclasses.is_dataclass(schema):
            return
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            if f.name.startswith("_") or f.name not in node:
                continue
            key = f"{prefix}{f.name}"
            value = node._get_node(f.name)
            if isinstance(value, DictConfig):
                kind = OmegaConf.get_type(value)
                if kind is not None and dataclasses.is_dataclass(kind):
                    walk(value, key + ".")
                    continue
                if f.metadata.get("doc") is None or len(value):  # a group composed from plain YAML: see groups
                    continue
            raw = value._value() if hasattr(value, "_value") else value
            shown = OmegaConf.to_container(raw) if isinstance(raw, (DictConfig, ListConfig)) else raw
            shown = getattr(shown, "value", shown)
            out.append((key, type_name(hints.get(f.name, Any)), "???" if shown == "???" else
                        shown_default(node, f.name, shown), f.metadata.get("doc", "")))

    walk(cfg, "")
    return out


def shown_default(node: DictConfig, name: str, value: Any) -> str:
    """A default as --help shows it: an interpolation as the value it resolves to for the choices given, beside it
    (`1 (${objective:n_critic})` with objective=gan)."""
    if not OmegaConf.is_interpolation(node, name):
        return repr(value)
    try:
        resolved = node[name]
        return f"{getattr(resolved, 'value', resolved)!r} ({value})"
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve here is shown as written
        return repr(value)


def help_text(command: str, config_name: str, summary: str, groups: list[str], overrides: list[str],
              config_dir: str | None = None) -> str:
    lines = [f"usage: python -m {command} [group=choice ...] [key=value ...] [Hydra flags]", "", summary.strip(), ""]
    if groups:
        lines.append("config groups (group=choice):")
        lines += [f"  {g}: {', '.join(group_choices(g))}" for g in groups]
        lines.append("")
    lines.append("keys (key: type = default  doc); the values shown are those the arguments given compose:")
    for key, kind, default, doc in schema_keys(config_name, overrides, config_dir):
        lines.append(f"  {key}: {kind} = {default}" + (f"  {doc}" if doc else ""))
    return "\n".join([*lines, "", HYDRA_FLAGS_HELP, ""])


# --------------------------------------------------------------------------- checks shared by commands
def writable_folder(key: str, path: str | Path | None) -> None:
    """A folder a command will write: not a file, and creatable and writable (checked before any work)."""
    if not path:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BadInput(f"{key}={path}: is a file; allowed: a folder (created when absent)")
    existing = next(q for q in [p, *p.parents] if q.exists())
    if not existing.is_dir():
        raise BadInput(f"{key}={path}: {existing} is a file; allowed: a folder (created when absent)")
    try:  # the one answer that holds for root, read-only mounts and /proc alike: make something there, then remove it
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as exc:
        raise BadInput(f"{key}={path}: {existing} is not writable ({exc.strerror}); allowed: a folder this user can "
                       "write") from None


def existing_store(uri: str | None) -> None:
    """A store a command only reads must exist: opening a missing SQLite file would create an empty one."""
    resolved = resolve_uri(uri)
    path = sqlite_path(resolved)
    if path is not None and not path.is_file():
        raise BadInput(f"tracking.uri={resolved}: no store there ({path} does not exist); allowed: the store your "
                       "runs wrote (python -m wgan_repro creates sqlite:///mlflow.db)")


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def store_folder(uri: str | None) -> None:
    """A store a command writes: its SQLite file's folder must be writable, and the file, when there, a database."""
    path = sqlite_path(resolve_uri(uri))
    if path is None:
        return
    try:
        writable_folder("tracking.uri", path.parent)
    except BadInput as exc:  # said with the URI as given, not its folder
        raise BadInput(str(exc).replace(f"tracking.uri={path.parent}:", f"tracking.uri={uri}:", 1)) from None
    if path.is_dir():
        raise BadInput(f"tracking.uri={uri}: {path} is a folder; allowed: sqlite:///<a file.db>")
    if path.is_file() and path.stat().st_size and path.read_bytes()[:16] != SQLITE_HEADER:
        raise BadInput(f"tracking.uri={uri}: {path} is not an SQLite database; allowed: a new file or an MLflow "
                       "store's .db")


# --------------------------------------------------------------------------- the entry point
def checked(config_name: str, overrides: list[str], config_dir: str | None,
            check: Callable[[DictConfig], None] | None) -> DictConfig:
    """One composition, Hydra's errors said in one line, then the command's own checks."""
    try:
        cfg = compose_app(config_name, overrides, config_dir)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra's and OmegaConf's errors, said in one line
        raise BadInput(explain(exc, overrides)) from None
    check_ranges(cfg, "")  # every declared range of the typed nodes
    if check is not None:
        check(cfg)
    return cfg


def run(command: str, config_name: str, hydra_main: Callable[[], Any], summary: str,
        check: Callable[[DictConfig], None] | None = None, groups: Iterable[str] = (),
        argv: list[str] | None = None) -> None:
    """Help, then every composition and check before Hydra runs `hydra_main` (module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags, overrides = split_argv(argv)
    config_dir = str(flags.get("--config-dir") or flags.get("-cd") or "") or None
    config_name = str(flags.get("--config-name") or flags.get("-cn") or config_name)
    CURRENT.update(config=config_name, config_dir=config_dir)
    try:
        if "--help" in argv or "-h" in argv:
            try:
                text = help_text(command, config_name, summary, list(groups), [o for o in overrides if "," not in o],
                                 config_dir)
            except (BadInput, ConfigError):
                raise
            except Exception as exc:  # noqa: BLE001 - a bad override beside --help: said in one line, as without it
                raise BadInput(explain(exc, overrides)) from None
            print(text)
            return
        grid: list[str] = []
        try:
            singles = single_runs(overrides)
        except Exception as exc:  # noqa: BLE001 - an override Hydra cannot parse
            raise BadInput(explain(exc, overrides)) from None
        for single in singles:
            cfg = checked(config_name, single, config_dir, check)
            params = OmegaConf.select(cfg, "hydra.sweeper.params") if flags.get("--multirun") or flags.get("-m") \
                else None
            grid = [f"{k}={v}" for k, v in params.items()] if params else []
        for single in single_runs(grid)[1:] if grid else ():  # a sweep file's own grid, value by value
            checked(config_name, [*single, *overrides], config_dir, check)
    except (BadInput, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    hydra_main()
