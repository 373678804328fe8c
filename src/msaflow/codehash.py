"""Hash of the package source that implements a stage, used as a Snakemake param.

A rule whose implementation changed must rerun even if its inputs did not; a rule whose
implementation is untouched must not. Hashing files (not importing them) keeps DAG building fast.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def code_hash(*relative_paths: str, package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 (first 16 hex) over the named modules/folders of the package, plus common.py."""
    digest = hashlib.sha256()
    files: set[Path] = {package_dir / "common.py"}
    for rel in relative_paths:
        path = package_dir / rel
        if path.is_dir():
            files.update(p for p in path.rglob("*.py"))
        elif path.exists():
            files.add(path)
        else:
            raise FileNotFoundError(f"code_hash: {path} does not exist")
    for file in sorted(files):
        digest.update(file.relative_to(package_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _module_file(module: str, package_dir: Path) -> Path | None:
    """`msaflow.models.blocks` -> <package_dir>/models/blocks.py (or the package's __init__.py)."""
    parts = module.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_files(file: Path, package_dir: Path) -> set[Path]:
    """Package modules `file` imports anywhere (also inside functions), without running it.

    Only the modules named count, not the parent packages' __init__ files Python also runs:
    `from msaflow.models.blocks import x` ties a model to blocks.py, not to models/__init__.py
    and the registry (which would tie every model to every other one again).
    """
    import ast

    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = [package_dir.name, *file.parent.relative_to(package_dir).parts]
    found: set[Path | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_module_file(alias.name, package_dir) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join(anchor + ([node.module] if node.module else []))
            # `from msaflow.models import blocks` imports the submodule; other names come from base
            submodules = {alias.name: _module_file(f"{base}.{alias.name}", package_dir) for alias in node.names}
            found.update(submodules.values())
            if not all(submodules.values()):
                found.add(_module_file(base, package_dir))
    found.discard(None)
    return found  # type: ignore[return-value]


def with_imports(*relative_paths: str, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The named modules plus every package module they import, transitively (relative paths,
    sorted): a rule's `code_hash(*with_imports("models/cmbert.py"))` covers CM-BERT and the shared
    blocks it uses, and no other model."""
    todo = [package_dir / rel for rel in relative_paths]
    seen: set[Path] = set()
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        if not file.is_file():
            raise FileNotFoundError(f"with_imports: {file} does not exist")
        seen.add(file)
        todo.extend(_imported_files(file, package_dir) - seen)
    return sorted(p.relative_to(package_dir).as_posix() for p in seen)
