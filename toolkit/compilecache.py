"""Compile once per set of project files: a long-lived process (a scheduler, a notebook,
the benchmark's in-process runs) re-running an unchanged project skips compiling.

The key is a digest of every file compilation reads (config, features/, models/,
warehouse/ except database files) by content, plus the --vars override and the
toolkit version; any edit, added or removed file misses. Compiled projects are
kept per process (a few, most recent first); runs never mutate them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from toolkit import __version__

_FOLDERS = ("features", "models", "warehouse")
_CONFIG = ("toolkit.toml", "pyproject.toml")
_SKIP = (".duckdb", ".wal", ".json", ".tmp", ".pyc")  # databases, lock sidecars, caches
_KEEP = 4
_cache: dict[str, object] = {}


def project_key(root: Path, vars_override: dict | None) -> str:
    root = Path(root).resolve()  # a compiled project knows its folder: a copy elsewhere is another project
    digest = hashlib.sha256(f"{__version__}|{root}|{json.dumps(vars_override or {}, sort_keys=True, default=str)}".encode())
    paths = [root / name for name in _CONFIG if (root / name).is_file()]
    for folder in _FOLDERS:
        base = root / folder
        if base.is_dir():
            paths += sorted(p for p in base.rglob("*") if p.is_file() and not p.name.endswith(_SKIP) and "__pycache__" not in p.parts
                            and ".toolkit-lock" not in p.name)
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def compile_cached(root, vars_override: dict | None = None):
    """compile_project(root, vars_override), reused while no project file changed."""
    from toolkit.compiler import compile_project

    key = project_key(Path(root), vars_override)
    compiled = _cache.pop(key, None)
    if compiled is None:
        compiled = compile_project(Path(root), vars_override)
    _cache[key] = compiled  # most recent last
    while len(_cache) > _KEEP:
        _cache.pop(next(iter(_cache)))
    return compiled
