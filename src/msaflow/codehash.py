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
