"""Compile once per set of project inputs.

Two levels, same key:

- per process: a long-lived process (a scheduler, a notebook, the benchmark's
  in-process runs) re-running an unchanged project reuses the compiled project;
- on disk (`.toolkit/cache/compile.pkl` under the project; the folder ignores itself
  for git): a new `toolkit run` / `plan` process re-running an unchanged project
  skips rendering, parsing and qualifying. Syntax trees are not stored (unpickling
  them costs as much as compiling): each seed and feature step keeps what planning
  and fingerprinting read (content hash, column lineage, upstream, sources, columns,
  config, data tests) and its canonical SQL as text; the tree is parsed again only
  for a step that is built or diffed (compiler.CachedStep).

The key is a digest of every input compilation reads: the config file's text and
the effective vars (after ${ENV} interpolation and --vars), the dialect, every file
under features/, models/ and warehouse/ (except database files and lock sidecars;
by content, large seed files by size and mtime), the toolkit version and the stat
of its source files, and the sqlglot version. Any edit, added or removed file misses.
Templates that Jinja read from elsewhere in the project are recorded with their
digests and checked on load. Model specs are kept without their functions, so a
run that trains nothing never imports models/*.py (nor scikit-learn through them),
and so are the model steps as compiled (name, upstream, content hash: what planning
reads), with the graph and the models' column and tag checks they passed: the key
covers every input those read, so a hit neither compiles nor checks them again.

When the key misses but the file was written for the same inputs except the text of
SQL step files (the "frame" key: those files' names count, their contents do not), the
project is compiled with the file's step records as compile_project's `reuse`: an edit
to one step of 500 parses, qualifies and hashes that step and the readers whose upstream
columns changed, and takes the rest as they were (each compared by its rendered SQL,
config, var bindings and upstream columns; tests/test_compile_reuse.py checks the result
equals compiling from scratch).

A cache file that is missing, unreadable, corrupt (its checksum is checked before
unpickling), written by another version or for another key is ignored: the project
is compiled and the file rewritten, atomically (a temporary file renamed over it),
so a concurrent run reads either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
import threading
from pathlib import Path

from toolkit import __version__

_KEEP = 4
_FORMAT = b"toolkit-compile-cache-7\n"
CACHE_DIR = ".toolkit/cache"
CACHE_FILE = "compile.pkl"
_cache: dict[str, object] = {}
_pending: list = []  # cache files compile_cached(write_later=True) left to write_pending()
_writing: list = []  # the threads writing them


def _toolkit_stamp() -> str:
    """Version plus the stat of toolkit's own modules: an edited checkout is another compiler."""
    package = os.path.dirname(__file__)
    parts = [__version__]
    for folder, subfolders, names in os.walk(package):  # os.walk, not pathlib: ~1 ms, not ~4
        subfolders.sort()
        relative = folder[len(package) + 1:]  # os.path.relpath per file cost as much as its stat
        for name in sorted(n for n in names if n.endswith(".py")):
            stat = os.stat(os.path.join(folder, name))
            parts.append(f"{os.path.join(relative, name)}:{stat.st_size}:{stat.st_mtime_ns}")
    try:
        import sqlglot

        parts.append(f"sqlglot={sqlglot.__version__}")
    except Exception:  # pragma: no cover
        parts.append("sqlglot=?")
    return "|".join(parts)


def _file_sources_key(root: Path, target: str | None) -> str:
    """The files of file sources, wherever they are, and the remembered catalog columns
    of table sources on `target` (their schemas, and stored spellings, are compiled in)."""
    if not (root / "warehouse" / "sources.toml").is_file():
        return ""
    from toolkit import filesources, sourcecolumns
    from toolkit.project import discover_sources

    return filesources.stat_key(discover_sources(root), root) + sourcecolumns.cache_text(root, target)


def project_key(root: Path, vars_override: dict | None, config=None, frame: bool = False, files=None,
                target: str | None = None) -> str:
    """The digest of every input; `frame=True`: of every input but the text of the .sql
    files under features/ (their names count), what per-step reuse needs unchanged
    (compile_project's `reuse`: whatever those files do reaches a step through its
    rendered SQL and config, which are compared step by step). `files`: the project's
    files as read once for this command (project.ProjectFiles); `target` (default: the
    config's): whose remembered source columns count (sourcecolumns.py)."""
    from toolkit.project import read_project_files

    root = Path(root).resolve()  # a compiled project knows its folder: a copy elsewhere is another project
    effective = ""
    if config is not None:
        effective = json.dumps([config.dialect, config.vars], sort_keys=True, default=repr)
    digest = hashlib.sha256(
        f"{_toolkit_stamp()}|{sys.version_info[:2]}|{root}|{json.dumps(vars_override or {}, sort_keys=True, default=str)}|{effective}".encode()
    )
    files = files if files is not None and files.root.resolve() == root else read_project_files(root)
    digest.update(_file_sources_key(root, target or (config.default_target if config is not None else None)).encode())
    for name, data in files.files.items():
        digest.update(name.encode() + b"\0")
        if frame and name.endswith(".sql") and name.startswith("features/"):
            continue
        if isinstance(data, bytes):
            digest.update(hashlib.sha256(data).digest())
        else:  # a large file (a seed): its stat
            digest.update(f"size={data.st_size};mtime={data.st_mtime_ns}".encode())
    return digest.hexdigest()


def compile_cached(root, vars_override: dict | None = None, disk: bool = False, target: str | None = None, config=None,
                   write_later: bool = False):
    """compile_project(root, vars_override, target=target), reused while no project input changed
    (per process; with disk=True also across processes, through the project's cache file).
    What templates read from outside the files (env_var(), target.name: the compiled
    project's `reads`) must still hold, else the project is compiled again. `write_later`:
    a cache file to write is left to write_pending() (`toolkit run` starts it after its
    builds: ~0.1 s of generating 500 steps' SQL then overlaps the engine's closing work)."""
    from toolkit import dbtnames
    from toolkit.compiler import compile_project
    from toolkit.config import load_config
    from toolkit.project import load_project, read_project_files

    root = Path(root)
    config = config or load_config(root, vars_override)  # effective vars: ${ENV} in the config counts
    files = read_project_files(config.root)  # once: the key digests what is compiled
    target = target or config.default_target
    key = project_key(root, vars_override, config, files=files, target=target)
    compiled = _cache.pop(key, None)
    if compiled is not None and not dbtnames.current(compiled.reads, target):
        compiled = None
    if compiled is None and disk:
        compiled = load(config.root, vars_override, key, config, target, files)
        if compiled is None:
            frame = project_key(root, vars_override, config, frame=True, files=files, target=target)
            compiled = compile_project(root, vars_override, load_project(root, vars_override, config, files=files), target=target,
                                       reuse=_reusable(config.root, frame, target))
            if write_later:
                _pending.append((compiled, key, frame))
            else:
                save(compiled, key, frame)
    if compiled is None:
        compiled = compile_project(root, vars_override, load_project(root, vars_override, config, files=files), target=target)
    _cache[key] = compiled  # most recent last
    while len(_cache) > _KEEP:
        _cache.pop(next(iter(_cache)))
    return compiled


def write_pending(wait: bool = False) -> None:
    """Write the cache files compile_cached(write_later=True) left, on a thread of its own
    (not a daemon: a process never ends before it); `wait`: and wait for every such write.
    The file holds the project as compiled, for the key computed then: what a run does
    meanwhile changes neither (it reads the syntax trees, as the writer does, never changes one)."""
    if _pending:
        writes = [_pending.pop() for _ in range(len(_pending))][::-1]
        thread = threading.Thread(target=lambda: [save(*write) for write in writes], name="toolkit-cache-write")
        thread.start()
        _writing.append(thread)
    while wait and _writing:
        _writing.pop().join()


def cache_path(root: Path) -> Path:
    return Path(root) / CACHE_DIR / CACHE_FILE


# -- on disk ---------------------------------------------------------------------------

_STEP_FIELDS = ("name", "kind", "file", "materialized", "upstream", "sources", "columns", "config", "rendered",
                "content_hash", "data_tests", "column_tags", "bindings", "reads_upstream", "upstream_columns",
                "volatile", "volatile_update")
_MODEL_FIELDS = ("name", "kind", "file", "materialized", "upstream", "content_hash")  # compiling/modelsteps._compile_model's


def _reusable(root: Path, frame: str, target: str | None) -> dict | None:
    """The SQL steps of the cache file, by name, when it was written for the same inputs
    but the text of SQL step files (compile_project's `reuse`); else None."""
    from toolkit import dbtnames

    try:
        payload = _read(cache_path(root), None)
        if payload is None or payload.get("frame") != frame or not dbtnames.current(payload.get("reads", {}), target):
            return None
        return {record["name"]: record for record in payload["steps"] if record["kind"] == "feature" and record["sql"] is not None}
    except Exception:  # a damaged file reuses nothing
        return None


def save(compiled, key: str, frame: str | None = None) -> bool:
    """Write the cache file for `compiled` (atomically); False if it cannot be cached or written."""
    try:
        payload = _payload(compiled, key, frame)
        if payload is None:
            return False
        body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        data = _FORMAT + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        folder = cache_path(compiled.project.root).parent
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, b"# toolkit's local caches: never commit\n*\n")
        write_atomic(folder / CACHE_FILE, data)
        return True
    except Exception:  # a read-only project, a full disk: run without the cache
        return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` through a temporary file renamed over it: a reader sees the old file
    or the new one; a failed write leaves no temporary file behind."""
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _payload(compiled, key: str, frame: str | None = None) -> dict | None:
    from toolkit.fingerprint import lineage

    project = compiled.project
    steps, models = [], []
    for step in compiled.steps.values():
        if step.name in project.models:
            spec = project.models[step.name]
            if step.data_tests or step.upstream != sorted({spec.training, spec.scoring_table} | ({spec.outcomes} if spec.outcomes else set())):
                return None  # a custom test attached to a model: compiled with the model, not cached
            models.append({name: getattr(step, name) for name in _MODEL_FIELDS} | {"relation": (step.relation.db, step.relation.name)})
            continue
        if step.name not in project.steps and step.name not in project.seeds:
            return None
        record = {name: getattr(step, name) for name in _STEP_FIELDS}
        record["relation"] = (step.relation.db, step.relation.name)
        record["sql"], record["canonical"] = _texts(step, compiled.dialect)
        record["shape"] = _shape(step)
        record["lineage"] = lineage(compiled, step) if step.strategy.from_template else None
        steps.append(record)
    return {
        "key": key,
        "frame": frame,
        "dialect": compiled.dialect,
        "steps": steps,
        "source_tests": compiled.source_tests,
        "templates": _outside_templates(compiled),
        "reads": dict(compiled.reads),
        "disabled": list(compiled.disabled),
        "models": {name: spec.without_code() for name, spec in project.models.items()},
        "model_steps": models,
        # the columns of file sources as read from their files (the key has the files' stats):
        # a no-op run neither describes the files nor checks a glob's files again
        "files_read": {key: dict(source.columns) for key, source in project.sources.items() if source.path and source.columns},
    }


def _texts(step, dialect: str) -> tuple[str | None, str | None]:
    """(SQL with comments, canonical SQL) of the step's tree; the canonical text the
    compiler made for the content hash is reused when it was made from this tree."""
    from sqlglot.errors import ErrorLevel

    from toolkit import sql
    from toolkit.compiler import CachedStep

    if isinstance(step, CachedStep) and step.sql_text is not None:  # carried over: its texts are what they were
        return step.sql_text, step.canonical
    tree = step.tree
    if tree is None:
        return None, None
    made = step.__dict__.get("_canonical_of")
    canonical = made[1] if made is not None and made[0] is tree else sql.canonical_text(tree, dialect)
    has_comments = any(node.comments for node in tree.walk())
    return (tree.sql(dialect=dialect, unsupported_level=ErrorLevel.IGNORE) if has_comments else canonical), canonical


def _shape(step) -> str | None:
    from toolkit import sql
    from toolkit.compiler import CachedStep

    if isinstance(step, CachedStep) and step.sql_text is not None:  # carried over, as its texts are
        return step.shape
    return sql.tree_shape(step.tree) if step.tree is not None else None


def _outside_templates(compiled) -> dict[str, str] | None:
    """Templates Jinja loaded from outside the folders in the key (an {% include %} of
    another project file): path -> digest, checked when the cache is loaded."""
    from toolkit.project import FOLDERS

    renderer = compiled.renderer
    loaded = getattr(renderer, "loaded", None) if type(renderer).__name__ == "Renderer" else None
    root = compiled.project.root
    outside = {}
    for name in sorted(loaded or ()):
        if name.split("/", 1)[0] in FOLDERS:
            continue
        outside[name] = _digest_file(root / name)
    return outside


def _digest_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load(root: Path, vars_override: dict | None, key: str, config=None, target: str | None = None, files=None):
    """The compiled project from the cache file, or None (missing, corrupt, stale: compile)."""
    from toolkit import dbtnames

    try:
        payload = _read(cache_path(root), key)
        if payload is None or not dbtnames.current(payload.get("reads", {}), target or (config.default_target if config else "")):
            return None
        return _assemble(Path(root), vars_override, payload, config, target, files)
    except Exception:  # never trust a cache over compiling: any surprise is a miss
        return None


def _read(path: Path, key: str | None) -> dict | None:
    """The payload of the cache file if it is whole and (key given) for that key."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_FORMAT):
        return None
    checksum, _, body = data[len(_FORMAT):].partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != checksum:
        return None
    payload = pickle.loads(body)
    if not isinstance(payload, dict) or (key is not None and payload.get("key") != key):
        return None
    return payload


def _assemble(root: Path, vars_override: dict | None, payload: dict, config=None, target: str | None = None, files=None):
    from sqlglot import exp

    from toolkit.compiler import CachedStep, CompiledStep, CompileAfresh, assemble, stored_names
    from toolkit.project import load_project

    for name, digest in (payload.get("templates") or {}).items():
        if _digest_file(root / name) != digest:
            return None
    project = load_project(root, vars_override, config, models=payload["models"], files=files)
    dialect = payload["dialect"]
    if dialect != project.config.dialect:
        return None
    fallback = CompileAfresh(root, vars_override, target)
    steps = {}
    for record in payload["steps"]:
        db, name = record["relation"]
        step = CachedStep(**{f: record[f] for f in _STEP_FIELDS}, relation=exp.table_(name, db=db))
        step.sql_text, step.canonical, step.dialect, step.fallback = record["sql"], record["canonical"], dialect, fallback
        step.shape = record["shape"]
        step.lineage = record["lineage"]
        if step.strategy.from_template:
            step.template = project.steps[step.name].text
        steps[step.name] = step
    expected = set(project.steps) - set(payload.get("disabled", ())) | set(project.seeds)
    if set(steps) != expected:
        return None
    models = {record["name"]: CompiledStep(**{f: record[f] for f in _MODEL_FIELDS}, relation=exp.table_(record["relation"][1], db=record["relation"][0]))
              for record in payload["model_steps"]}
    if set(models) != set(project.models):
        return None
    compiled = assemble(project, steps, payload["source_tests"], payload.get("reads"), target, payload.get("disabled"), models,
                        payload.get("files_read"))
    for step in steps.values():  # assemble resolved the sources' catalog columns
        if isinstance(step, CachedStep):
            step.stored_names = stored_names(compiled.project, step.sources)
    return compiled
