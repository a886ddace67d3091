"""Checks of docker-compose.yml, .env.example and the Dockerfile that need no Docker engine.

No Docker engine or compose plugin runs on the development machines or in CI, so the stack is
checked statically: against the Compose Specification's JSON Schema, and beyond it against the
project itself (what is mounted exists, what is run is a real program or Airflow subcommand with
valid options, Airflow config options exist in the installed Airflow, every secret is required and
documented, `depends_on` is satisfiable, the Dockerfile copies what exists).

Each check returns a list of problems (strings naming the service, the key and what to do), so a
test can both assert the project is clean and feed a broken file to prove a check catches it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).with_name("compose-spec.json")
# Where the Dockerfile puts the project inside the image (WORKDIR); paths under it map to the checkout.
IMAGE_PROJECT_DIR = "/opt/territoire"
# Programs a python:3.11-slim based image has besides those of the project's virtualenv.
SYSTEM_PROGRAMS = {"sh", "bash", "python", "python3", "pip", "uv", "env", "test", "true", "false"}
# Variable names that hold secrets: they must be required (${VAR:?...}) and never get a default.
# (A name ending in _FILE or _PATH is where a secret is kept, not the secret.)
SECRET_NAME = re.compile(
    r"^(?!.*_(FILE|PATH)$).*(PASSWORD|SECRET|FERNET|_KEY$|TOKEN|BASIC_AUTH|CREDENTIAL)", re.IGNORECASE
)
# Config sections of packages that read options they do not declare to Airflow (section -> package):
# such an option is accepted when the package's source reads it.
UNDECLARED_CONFIG_SECTIONS = {"cosmos": "cosmos"}
# Environment of every Airflow service: what the CeleryExecutor stack cannot run without.
REQUIRED_AIRFLOW_ENV = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW_CONN_WAREHOUSE",
    "WAREHOUSE_URL",
    "TERRITOIRE_PROFILE",
    "TERRITOIRE_LANDING_DIR",
    "TERRITOIRE_PUBLICATION_DIR",
)


# ---------------------------------------------------------------------------------------------
# Interpolation (the ${VAR} syntax of the Compose Specification)
# ---------------------------------------------------------------------------------------------


class InterpolationError(ValueError):
    """What `docker compose` prints and stops on: a required variable is unset or empty."""


@dataclass(frozen=True)
class Interp:
    name: str
    op: str  # "" (plain), ":-", "-", ":?", "?", ":+", "+"
    arg: str
    where: str  # the key path, for messages


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")


def _scan(value: str, where: str) -> Iterator[tuple[int, int, Interp | None]]:
    """Yield (start, end, interp) for each `$` expression; interp is None for the `$$` escape."""
    i = 0
    while i < len(value):
        if value[i] != "$":
            i += 1
            continue
        nxt = value[i + 1 : i + 2]
        if nxt == "$":
            yield i, i + 2, None
            i += 2
        elif nxt == "{":
            end = value.find("}", i)
            if end < 0:
                raise InterpolationError(f"{where}: unterminated ${{ in {value!r}")
            body = value[i + 2 : end]
            if "${" in body:
                raise InterpolationError(f"{where}: nested interpolation in {value!r} is not supported here")
            m = _NAME.match(body)
            if not m:
                raise InterpolationError(f"{where}: invalid variable name in {value!r}")
            rest = body[m.end() :]
            op = next((o for o in _OPS if rest.startswith(o)), "")
            if rest and not op:
                raise InterpolationError(f"{where}: invalid interpolation {value[i:end + 1]!r}")
            yield i, end + 1, Interp(m.group(), op, rest[len(op) :], where)
            i = end + 1
        else:
            m = _NAME.match(value, i + 1)
            if m:
                yield i, m.end(), Interp(m.group(), "", "", where)
                i = m.end()
            else:
                i += 1


def _walk_strings(obj, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for n, v in enumerate(obj):
            yield from _walk_strings(v, f"{where}[{n}]")
    elif isinstance(obj, str):
        yield where, obj


def variables(model: dict) -> list[Interp]:
    """Every ${VAR} used in the (raw, not interpolated) compose model."""
    return [it for where, s in _walk_strings(model) for _, _, it in _scan(s, where) if it is not None]


def _interpolate_str(value: str, env: dict[str, str], where: str) -> str:
    out, last = [], 0
    for start, end, it in _scan(value, where):
        out.append(value[last:start])
        last = end
        if it is None:
            out.append("$")
            continue
        val = env.get(it.name)
        if it.op == ":?" and not val or it.op == "?" and val is None:
            raise InterpolationError(
                f"required variable {it.name} is missing a value: {it.arg or it.name} (at {where})"
            )
        if it.op == ":-":
            out.append(val if val else it.arg)
        elif it.op == "-":
            out.append(val if val is not None else it.arg)
        elif it.op == ":+":
            out.append(it.arg if val else "")
        elif it.op == "+":
            out.append(it.arg if val is not None else "")
        else:
            out.append(val or "")
    out.append(value[last:])
    return "".join(out)


def interpolate(model, env: dict[str, str], where: str = ""):
    """The model as `docker compose` sees it with these variables (raises like compose does)."""
    if isinstance(model, dict):
        return {k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in model.items()}
    if isinstance(model, list):
        return [interpolate(v, env, f"{where}[{n}]") for n, v in enumerate(model)]
    if isinstance(model, str):
        return _interpolate_str(model, env, where)
    return model


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_compose(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def parse_env_example(text: str) -> dict[str, str]:
    """Variables documented in .env.example: `VAR=value` lines, also commented-out ones (`# VAR=`)."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"^\s*#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def example_env(env_example: dict[str, str]) -> dict[str, str]:
    """The .env.example values with every empty secret filled with a dummy: a filled-in .env."""
    return {k: (v or f"dummy-{k.lower()}") for k, v in env_example.items()}


def services_built_here(model: dict) -> dict[str, dict]:
    """Services whose image is built from the project's Dockerfile."""
    return {name: svc for name, svc in (model.get("services") or {}).items() if "build" in svc}


def _env_dict(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _as_argv(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


def schema_problems(model: dict, schema_path: Path = SCHEMA_PATH) -> list[str]:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"Compose Specification: at {'/'.join(str(p) for p in err.absolute_path) or '(top)'}: {err.message}"
        for err in sorted(validator.iter_errors(model), key=lambda e: list(map(str, e.absolute_path)))
    ]


def mount_problems(model: dict, project_dir: Path) -> list[str]:
    problems = []
    declared = set((model.get("volumes") or {}).keys())
    used = set()
    for name, svc in (model.get("services") or {}).items():
        build = svc.get("build")
        if isinstance(build, dict | str):
            context = project_dir / (build if isinstance(build, str) else build.get("context", "."))
            if not context.is_dir():
                problems.append(f"service {name}: build context {context} does not exist")
            elif isinstance(build, dict) and not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"service {name}: Dockerfile {build.get('dockerfile')} not found in {context}")
        for vol in svc.get("volumes") or []:
            if isinstance(vol, str):
                parts = vol.split(":")
                source = parts[0] if len(parts) > 1 else ""
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            else:
                source, kind = vol.get("source", ""), vol.get("type", "volume")
            if kind == "bind":
                host = (project_dir / source).resolve() if not source.startswith("/") else Path(source)
                if not host.exists():
                    problems.append(
                        f"service {name}: bind mount source {source!r} does not exist in the project "
                        f"({host}); create it or fix the path"
                    )
            elif source:
                used.add(source)
                if source not in declared:
                    problems.append(f"service {name}: named volume {source!r} is not declared under top-level volumes")
    for unused in sorted(declared - used):
        problems.append(f"top-level volume {unused!r} is declared but no service mounts it")
    return problems


def depends_on_problems(model: dict) -> list[str]:
    problems = []
    services = model.get("services") or {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            target = services.get(dep)
            if target is None:
                problems.append(f"service {name}: depends_on {dep!r}, which is not a service of this file")
                continue
            condition = (spec or {}).get("condition", "service_started")
            health = target.get("healthcheck") or {}
            if condition == "service_healthy" and (not health.get("test") or health.get("disable")):
                problems.append(
                    f"service {name}: depends_on {dep!r} with condition service_healthy, but {dep} has no healthcheck"
                )
            if condition == "service_completed_successfully" and target.get("restart") not in (None, "no"):
                problems.append(
                    f"service {name}: waits for {dep!r} to complete, but {dep} has restart: {target.get('restart')} "
                    "(a one-shot job needs restart: \"no\")"
                )
            if target.get("profiles") and not set(target["profiles"]) <= set(svc.get("profiles") or []):
                problems.append(
                    f"service {name}: depends_on {dep!r}, which only runs under profiles {target['profiles']}"
                )
    return problems


def secret_problems(model: dict) -> list[str]:
    """Secrets must come from .env, be required (${VAR:?...}) and never have a default or a literal value."""
    problems = []
    for it in variables(model):
        if SECRET_NAME.search(it.name) and it.op != ":?":
            problems.append(
                f"{it.where}: secret {it.name} must be required with ${{{it.name}:?message}}, "
                f"not {'${' + it.name + it.op + it.arg + '}'} (no default value for secrets)"
            )
    for name, svc in (model.get("services") or {}).items():
        for key, value in _env_dict(svc).items():
            if SECRET_NAME.search(key) and not _only_required_vars(value):
                problems.append(
                    f"service {name}: environment {key} must come from .env as ${{VAR:?message}}, "
                    f"it is {value!r}"
                )
            m = re.match(r"^[a-z0-9+.-]+://[^:/@]*:([^@]*)@", value)
            if m and not _only_required_vars(m.group(1)):
                problems.append(
                    f"service {name}: environment {key} holds a URL whose password is not a required "
                    f"variable ({m.group(1)!r}); use ${{VAR:?message}}"
                )
    return problems


def _only_required_vars(value: str) -> bool:
    """True if the value contains at least one ${VAR:?} and every variable in it is required."""
    found = [it for _, _, it in _scan(value, "") if it is not None]
    secrets = [it for it in found if SECRET_NAME.search(it.name)]
    return bool(secrets) and all(it.op == ":?" for it in secrets)


def env_example_problems(model: dict, env_example: dict[str, str]) -> list[str]:
    problems = []
    used: dict[str, Interp] = {}
    for it in variables(model):
        used.setdefault(it.name, it)
        if it.name not in env_example:
            problems.append(f"{it.where}: variable {it.name} is not documented in .env.example")
        elif it.op in (":-", "-") and env_example[it.name] and env_example[it.name] != it.arg:
            problems.append(
                f"{it.where}: default of {it.name} is {it.arg!r} but .env.example says {env_example[it.name]!r}"
            )
    for name, value in env_example.items():
        if name not in used:
            problems.append(f".env.example documents {name}, which docker-compose.yml does not use")
        elif SECRET_NAME.search(name) and value:
            problems.append(
                f".env.example: secret {name} must be left empty (a placeholder), so compose refuses to "
                "start until it is set"
            )
    return problems


def _airflow_services(model: dict) -> dict[str, dict]:
    return {n: s for n, s in services_built_here(model).items()}


def airflow_env_problems(model: dict) -> list[str]:
    """What every Airflow service needs, and URLs that point at services of this file."""
    problems = []
    services = model.get("services") or {}
    for name, svc in _airflow_services(model).items():
        env = _env_dict(svc)
        for key in REQUIRED_AIRFLOW_ENV:
            if not env.get(key):
                problems.append(f"service {name}: environment {key} is missing")
        if env.get("AIRFLOW__CORE__EXECUTOR") not in (None, "CeleryExecutor"):
            problems.append(f"service {name}: AIRFLOW__CORE__EXECUTOR is {env['AIRFLOW__CORE__EXECUTOR']!r}, not CeleryExecutor")
        for key, value in env.items():
            if "://" not in value:
                continue
            host = urlsplit(re.sub(r"\$\{[^}]*\}", "x", value)).hostname
            if host and host not in services and host != "localhost" and not host.startswith("127."):
                problems.append(f"service {name}: {key} points at host {host!r}, which is not a service of this file")
        api_url = env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "")
        if api_url:
            parts = urlsplit(api_url)
            api = services.get(parts.hostname or "")
            if api is not None and "api-server" not in _as_argv(api.get("command")):
                problems.append(f"service {name}: the execution API URL points at {parts.hostname}, which does not run api-server")
            if not parts.path.rstrip("/").endswith("/execution"):
                problems.append(f"service {name}: the execution API URL must end with /execution/, got {api_url!r}")
    return problems


# ---- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuation lines joined."""
    out, buf, start = [], "", 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, args = buf.partition(" ")
        out.append((start, word.upper(), args.strip()))
        buf = ""
    return out


def dockerignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def is_ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a pattern also covers what is under it."""
    rel = rel.strip("/")
    ignored = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(p, pat) or fnmatch(p, pat.replace("**/", "")) for p in prefixes):
            ignored = not negate
    return ignored


def dockerfile_problems(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    path = context / dockerfile
    if not path.exists():
        return [f"{path} does not exist"]
    problems = []
    patterns = dockerignore_patterns(context)
    if not is_ignored(".env", patterns):
        problems.append(".dockerignore must exclude .env: secrets would be copied into the image")
    instructions = dockerfile_instructions(path)
    froms = [args for _, word, args in instructions if word == "FROM"]
    if not froms or not froms[0].startswith("python:3.11-slim"):
        problems.append(f"{dockerfile}: the base image must be python:3.11-slim, got {froms[:1]}")
    runs = " ".join(args for _, word, args in instructions if word == "RUN")
    if "uv sync --frozen --no-dev" not in runs:
        problems.append(f"{dockerfile}: no `uv sync --frozen --no-dev` (the image must install exactly uv.lock)")
    for line, word, args in instructions:
        if word not in ("COPY", "ADD"):
            continue
        tokens = json.loads(args) if args.startswith("[") else shlex.split(args)
        if any(t.startswith("--from") for t in tokens):
            continue
        tokens = [t for t in tokens if not t.startswith("--")]
        for source in tokens[:-1]:
            if any(ch in source for ch in "*?["):
                matches = list(context.glob(source))
                if not matches:
                    problems.append(f"{dockerfile}:{line}: {word} {source}: nothing matches in the build context")
                continue
            if not (context / source).exists():
                problems.append(f"{dockerfile}:{line}: {word} source {source!r} does not exist in {context}")
            elif is_ignored(source, patterns):
                problems.append(f"{dockerfile}:{line}: {word} source {source!r} is excluded by .dockerignore")
    return problems


def image_entrypoint_and_cmd(context: Path, dockerfile: str = "Dockerfile") -> tuple[list[str], list[str]]:
    entrypoint, cmd = [], []
    path = context / dockerfile
    if not path.exists():
        return entrypoint, cmd
    for _, word, args in dockerfile_instructions(path):
        if word in ("ENTRYPOINT", "CMD"):
            argv = json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]
            if word == "ENTRYPOINT":
                entrypoint, cmd = argv, []  # a new ENTRYPOINT resets CMD, as in Docker
            else:
                cmd = argv
    return entrypoint, cmd


# ---- Programs, Airflow subcommands and config options -------------------------------------------


@dataclass
class Invocations:
    """What the services run, collected for one check in a single Airflow process."""

    airflow_argvs: dict[tuple[str, ...], str]  # argv after `airflow` -> where it is used
    programs: dict[str, str]  # program -> where it is used
    python_objects: dict[str, str]  # dotted path to a module attribute -> where
    config_keys: dict[tuple[str, str], str]  # (section, key) -> where
    territoire_argvs: dict[tuple[str, ...], str]  # argv after `territoire` (the platform's CLI) -> where
    problems: list[str]


def _script_calls(script: Path, program: str) -> list[list[str]]:
    """`<program> <subcommand...>` lines of a shell script (options and variables left out)."""
    calls = []
    for line in script.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"^\s*(?:exec\s+)?{program}\s+(.*)$", line)
        if not m:
            continue
        words = []
        for tok in shlex.split(m.group(1), comments=True):
            if not re.fullmatch(r"[a-z][a-z-]*", tok):
                break
            words.append(tok)
        if words:
            calls.append(words)
    return calls


def collect_invocations(model: dict, project_dir: Path) -> Invocations:
    inv = Invocations({}, {}, {}, {}, {}, [])
    image_ep, image_cmd = image_entrypoint_and_cmd(project_dir)

    def program(argv: list[str], where: str) -> None:
        if not argv:
            inv.problems.append(f"{where}: empty command")
            return
        prog = argv[0]
        if prog == "airflow":
            inv.airflow_argvs[tuple(argv[1:])] = where
        elif prog.startswith(IMAGE_PROJECT_DIR + "/"):
            host = project_dir / prog[len(IMAGE_PROJECT_DIR) + 1 :]
            if not host.is_file():
                inv.problems.append(f"{where}: {prog} is not in the image ({host} does not exist)")
            else:
                if not os.access(host, os.X_OK):
                    inv.problems.append(f"{where}: {host} is not executable (chmod +x, and commit the mode)")
                for call in _script_calls(host, "airflow"):
                    inv.airflow_argvs[tuple(call)] = f"{where} ({host.name})"
                for call in _script_calls(host, "territoire"):
                    inv.territoire_argvs[tuple(call)] = f"{where} ({host.name})"
                text = host.read_text(encoding="utf-8")
                for tool in ("dbt", "python", "celery", "territoire"):
                    if re.search(rf"^\s*{tool}\s", text, re.MULTILINE):
                        inv.programs[tool] = f"{where} ({host.name})"
        else:
            inv.programs[Path(prog).name if prog.startswith("/") else prog] = where
        if prog in ("python", "python3") and len(argv) > 2 and argv[1] == "-c":
            try:
                compile(argv[2], where, "exec")
            except SyntaxError as exc:
                inv.problems.append(f"{where}: python -c code does not compile: {exc}")
        if prog == "celery" and "--app" in argv:
            inv.python_objects[argv[argv.index("--app") + 1]] = where

    for name, svc in _airflow_services(model).items():
        entry = _as_argv(svc["entrypoint"]) if "entrypoint" in svc else image_ep
        # Compose, like docker run, drops the image's CMD when the service sets its own entrypoint.
        cmd = _as_argv(svc["command"]) if "command" in svc else ([] if "entrypoint" in svc else image_cmd)
        program(entry + cmd, f"service {name}: command")
        test = (svc.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test and test[0] == "CMD":
            program(test[1:], f"service {name}: healthcheck")
        elif isinstance(test, list) and test and test[0] == "CMD-SHELL" or isinstance(test, str):
            shell = test[1] if isinstance(test, list) else test
            program(shlex.split(shell.replace("$$", "$")), f"service {name}: healthcheck")
        for key, value in _env_dict(svc).items():
            m = re.fullmatch(r"AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)", key)
            if m:
                inv.config_keys[(m.group(1).lower(), m.group(2).lower())] = f"service {name}: environment {key}"
            if key in ("AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__CORE__EXECUTOR") and "." in value:
                inv.python_objects[value] = f"service {name}: environment {key}"
    return inv


_AIRFLOW_PROBE = r"""
import contextlib, importlib, io, json, sys
req = json.load(sys.stdin)
from airflow.cli.cli_parser import get_parser
from airflow.configuration import conf
out = {"argv": {}, "options": {}, "objects": {}}
parser = get_parser()
for argv in req["argvs"]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
        out["argv"][json.dumps(argv)] = None
    except SystemExit:
        lines = [ln for ln in err.getvalue().splitlines() if "error" in ln.lower()]
        out["argv"][json.dumps(argv)] = (lines[-1] if lines else err.getvalue()[-300:]).strip()
desc = conf.configuration_description
renamed = {(old[0], old[1]): new for new, old in conf.deprecated_options.items()}
for section, key in req["options"]:
    options = desc.get(section, {}).get("options", {})
    # AIRFLOW__S__K_CMD / _SECRET give option K through a command or a secrets backend.
    base = key.rsplit("_", 1)[0] if key not in options and key.endswith(("_cmd", "_secret")) else key
    if (section, key) in renamed or (section, base) in renamed:
        new = renamed.get((section, key)) or renamed[(section, base)]
        out["options"][f"{section}.{key}"] = f"deprecated: use AIRFLOW__{new[0].upper()}__{new[1].upper()}"
    elif base in options:
        out["options"][f"{section}.{key}"] = None
    elif section in req["undeclared_sections"]:
        # Some packages read options with a fallback without declaring them: look in their source.
        import pathlib, re
        pkg = pathlib.Path(importlib.import_module(req["undeclared_sections"][section]).__file__).parent
        pattern = re.compile(r"conf\.get\w*\(\s*[\"']%s[\"']\s*,\s*[\"']%s[\"']" % (section, base))
        found = any(pattern.search(f.read_text(errors="replace")) for f in pkg.rglob("*.py"))
        out["options"][f"{section}.{key}"] = None if found else f"unknown option (not read by {pkg.name} either)"
    else:
        out["options"][f"{section}.{key}"] = "unknown option"
for path in req["objects"]:
    mod, _, attr = path.rpartition(".")
    try:
        getattr(importlib.import_module(mod), attr)
        out["objects"][path] = None
    except Exception as exc:
        out["objects"][path] = f"{type(exc).__name__}: {exc}"
print("PROBE-RESULT " + json.dumps(out))
"""


_PROBE_CACHE: dict[str, dict] = {}


def probe_airflow(argvs, options, objects, python: Path | None = None) -> dict:
    """Ask the installed Airflow (one process) about CLI argv, config options and import paths."""
    python = python or PROJECT_ROOT / ".venv" / "bin" / "python"
    req = {
        "argvs": sorted(list(a) for a in argvs),
        "options": sorted(list(o) for o in options),
        "objects": sorted(objects),
        "undeclared_sections": UNDECLARED_CONFIG_SECTIONS,
    }
    key = json.dumps([str(python), req])
    if key not in _PROBE_CACHE:  # importing Airflow's CLI takes seconds: ask once per question
        _PROBE_CACHE[key] = _run_probe(req, python)
    return _PROBE_CACHE[key]


def _run_probe(req: dict, python: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["AIRFLOW_HOME"] = home
        proc = subprocess.run(
            [str(python), "-c", _AIRFLOW_PROBE],
            input=json.dumps(req),
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE-RESULT "):
            return json.loads(line[len("PROBE-RESULT ") :])
    raise RuntimeError(f"the Airflow probe failed (exit {proc.returncode}): {proc.stderr[-2000:]}")


def command_problems(model: dict, project_dir: Path, venv_bin: Path | None = None) -> list[str]:
    """Programs exist in the image's virtualenv, Airflow argv parse, config options exist in Airflow 3.3."""
    venv_bin = venv_bin or project_dir / ".venv" / "bin"
    inv = collect_invocations(model, project_dir)
    problems = list(inv.problems)
    for prog, where in inv.programs.items():
        if prog not in SYSTEM_PROGRAMS and not (venv_bin / prog).exists():
            problems.append(f"{where}: program {prog!r} is neither in the project's virtualenv nor in the base image")
    res = probe_airflow(inv.airflow_argvs, inv.config_keys, inv.python_objects, venv_bin / "python")
    for argv, where in inv.territoire_argvs.items():
        err = territoire_cli_error(list(argv))
        if err:
            problems.append(f"{where}: `territoire {' '.join(argv)}` is not a valid territoire command: {err}")
    for argv, where in inv.airflow_argvs.items():
        err = res["argv"].get(json.dumps(list(argv)))
        if err:
            problems.append(f"{where}: `airflow {' '.join(argv)}` is not a valid Airflow 3 command: {err}")
    for (section, key), where in inv.config_keys.items():
        err = res["options"].get(f"{section}.{key}")
        if err:
            problems.append(f"{where}: [{section}] {key} is not an option of the installed Airflow ({err})")
    for path, where in inv.python_objects.items():
        err = res["objects"].get(path)
        if err:
            problems.append(f"{where}: {path} cannot be imported ({err})")
    return problems


def territoire_cli_error(argv: list[str]) -> str | None:
    """None when the platform's own CLI (`territoire`, territoire.cli) accepts this command line."""
    import contextlib
    import io

    from territoire.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "rejected"
    return None


# ---------------------------------------------------------------------------------------------
# Everything at once
# ---------------------------------------------------------------------------------------------


def check_project(project_dir: Path = PROJECT_ROOT, model: dict | None = None) -> list[str]:
    """All the checks on the project's docker-compose.yml (or on `model`, a compose dict)."""
    model = copy.deepcopy(model) if model is not None else load_compose(project_dir / "docker-compose.yml")
    env_example = parse_env_example((project_dir / ".env.example").read_text(encoding="utf-8"))
    problems = []
    try:
        resolved = interpolate(model, example_env(env_example))
    except InterpolationError as exc:
        return [f"interpolation with the .env.example values fails: {exc}"]
    problems += schema_problems(resolved)
    problems += mount_problems(resolved, project_dir)
    problems += depends_on_problems(resolved)
    problems += secret_problems(model)
    problems += env_example_problems(model, env_example)
    problems += airflow_env_problems(model)
    problems += dockerfile_problems(project_dir)
    problems += command_problems(resolved, project_dir)
    return problems


if __name__ == "__main__":  # pragma: no cover - a manual entry point: python tests/deploy/compose_checks.py
    found = check_project()
    print("\n".join(found) or "docker-compose.yml: no problem found")
    sys.exit(1 if found else 0)
