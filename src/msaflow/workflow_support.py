"""What the Snakefile needs before any rule runs: how jobs call `msaflow`, which datasets the
requested targets name, and a config error a user can read. Pure functions, unit-tested.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from pathlib import Path

# --- How rules call msaflow --------------------------------------------------------------------


def msaflow_shell_prefix(python: str | os.PathLike, src_dir: str | os.PathLike, own_envs: bool) -> str:
    """The shell prefix of every job: `set -euo pipefail` plus, unless the jobs run in their own
    conda/apptainer environments (`own_envs`), a shell function `msaflow` that runs the package
    source in `src_dir` with the Python that runs Snakemake.

    Rules call a bare `msaflow <stage>`; with this function it needs neither an activated venv nor
    `msaflow` on PATH (a cluster job re-runs Snakemake with the same Python, so the same holds
    there). The source is the one `code_hash` hashes, so the code that runs is the code that
    decided what reruns. In a conda/apptainer environment the environment's own msaflow runs.
    The result goes through Snakemake's `shell.prefix`, which formats it: braces are doubled.
    """
    prefix = "set -euo pipefail; "
    python = Path(python)
    # A Python without msaflow installed beside it (e.g. a system-wide Snakemake) may lack the
    # package's dependencies: then `msaflow` comes from PATH as before.
    if own_envs or not (python.parent / "msaflow").exists():
        return prefix
    src = shlex.quote(str(Path(src_dir).resolve()))
    function = (f'msaflow() {{ PYTHONPATH={src}${{PYTHONPATH:+:$PYTHONPATH}} '
                f'{shlex.quote(str(python))} -m msaflow "$@"; }}; ')
    return prefix + function.replace("{", "{{").replace("}", "}}")


# --- Datasets named by the requested targets ------------------------------------------------------


def requested_datasets(argv: list[str], work_dir: str, datasets, default_targets=()) -> list[str]:
    """Configured datasets that the targets on a Snakemake command line name, in order.

    Targets are the arguments that look like our output paths: `results/<model>_<ds>.json`,
    `results/dataset_<ds>.json` or `<work_dir>/<ds>/...` (absolute or relative to the working
    directory). Without such arguments, the config's default targets count.
    """
    work = Path(work_dir).as_posix().rstrip("/")
    names = sorted(datasets, key=len, reverse=True)  # longest first: "mosei" before "mosi"
    if not names:
        return []
    alternatives = "|".join(re.escape(n) for n in names)
    patterns = [re.compile(rf"^results/(?:[^/]*_)?({alternatives})\.json$"),
                re.compile(rf"^{re.escape(work)}/({alternatives})/")]

    def named(token: str) -> str | None:
        if os.path.isabs(token):
            try:
                token = os.path.relpath(token)
            except ValueError:
                return None
        token = Path(token).as_posix().removeprefix("./")
        for pattern in patterns:
            if m := pattern.match(token):
                return m.group(1)
        return None

    found = [ds for ds in map(named, argv) if ds]
    if not found:
        found = [ds for ds in map(named, default_targets) if ds]
    return list(dict.fromkeys(found))


# --- Config errors ----------------------------------------------------------------------------------


def _section(path) -> str:
    return ".".join(str(p) for p in path) or "top level"


def config_problems(config: dict, schema: dict) -> list[str]:
    """One short line per schema violation: the key, its section and what is allowed.

    Snakemake's own message dumps the schema and the whole section; a misspelled key needs only
    the key, where it is, and the allowed keys (with the closest one).
    """
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    problems = []
    for error in sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        section = _section(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            patterns = list(error.schema.get("patternProperties", {}))
            for key in sorted(error.instance):
                if key in allowed or any(re.search(p, key) for p in patterns):
                    continue
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(f"unknown key {key!r} in section '{section}' (allowed: {', '.join(allowed)}){hint}")
        else:
            message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
            problems.append(f"{section}: {message}")
    return problems


def config_error(config: dict, schema_path: str | os.PathLike) -> str | None:
    """Validate with Snakemake (which also fills in defaults); on failure return `config_problems`
    as the message (not Snakemake's, which dumps the schema and the whole section)."""
    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema_path = Path(schema_path).resolve()
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    try:
        validate(config, str(schema_path))
    except WorkflowError as error:
        problems = config_problems(config, schema) or [str(error)]
    else:
        problems = model_override_problems(config, schema)
    return "invalid config (config.yaml, --configfile or --config):\n  " + "\n  ".join(problems) if problems else None


def model_override_problems(config: dict, schema: dict) -> list[str]:
    """`models.<m>.dataset_overrides.<ds>` hold model settings: each entry with its overrides applied
    must satisfy the model-entry schema (so a misspelt setting there fails as it would in the entry)."""
    import jsonschema

    entry_schema = schema["properties"]["models"]["additionalProperties"]
    problems = []
    for model, entry in sorted((config.get("models") or {}).items()):
        for ds, override in sorted((entry.get("dataset_overrides") or {}).items()):
            merged = {**{k: v for k, v in entry.items() if k != "dataset_overrides"}, **(override or {})}
            for error in jsonschema.Draft7Validator(entry_schema).iter_errors(merged):
                problems.append(f"models.{model}.dataset_overrides.{ds}: {error.message}")
    return problems
