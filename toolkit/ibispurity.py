"""What a Python (ibis) feature step may read besides ref(), source() and var().

A step is evaluated at compile and its SQL kept in the compile cache, whose key covers
the project's files and what templates read from outside (compilecache.py). So:

- environment variables the step's Python reads (os.environ[...], .get, `in`,
  os.getenv) while its module is imported and its function called are recorded like
  env_var() reads in SQL templates (dbtnames.Context.reads): a changed value compiles
  the project again, and the step's changed SQL rebuilds it (evaluating());
- the clock, randomness, files and the network are refused at compile, exit 2 at the
  line (check_files(), a static check of the step file and the helper files it imports
  relatively): the compile cache would keep what they gave once. ibis.now() and
  ibis.random() are SQL the engine evaluates (the step rebuilds every run);
- Python UDFs (@ibis.udf.scalar.python / pandas / pyarrow) are refused at compile:
  ibis compiles a call to a function it would register on a live backend, and toolkit
  runs the SQL without one ("Scalar Function double_it_0 does not exist" at run);
- what the step prints goes to stderr: stdout is the command's (plan --log-format json).
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import threading
from pathlib import Path

from toolkit.config import decode_text
from toolkit.errors import ProjectError

_CLOCK_HINT = "the compile cache keeps what it gave once: use ibis.now() / ibis.today() (evaluated by the engine; " \
              "the step rebuilds every run) or a var() (--vars)"
_RANDOM_HINT = "the compile cache keeps what it gave once: use ibis.random() (evaluated by the engine) or a var() seed"
_FILE_HINT = "a feature step reads refs, sources and seeds, never the machine's files: data in a seed under " \
             "warehouse/seeds/ (ref('name')), a value in a var() (--vars)"
_OUTSIDE_HINT = "a feature step reads refs, sources and seeds only; values from outside come through var() (--vars)"
_UDF_HINT = "toolkit runs the compiled SQL without registering Python functions: express it with ibis operations, " \
            "or use a function the engine has (@ibis.udf.scalar.builtin)"

# qualified name (as imported) -> (what it reads, hint); a name matches itself and what is under it
_REFUSED = {
    **{f"datetime.datetime.{m}": ("the clock", _CLOCK_HINT) for m in ("now", "today", "utcnow")},
    "datetime.date.today": ("the clock", _CLOCK_HINT),
    **{f"time.{m}": ("the clock", _CLOCK_HINT) for m in (
        "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "process_time", "localtime",
        "gmtime", "ctime", "asctime", "strftime")},
    **{f"pandas.Timestamp.{m}": ("the clock", _CLOCK_HINT) for m in ("now", "today", "utcnow")},
    "random": ("randomness", _RANDOM_HINT),
    "numpy.random": ("randomness", _RANDOM_HINT),
    "secrets": ("randomness", _RANDOM_HINT),
    "uuid.uuid1": ("randomness", _RANDOM_HINT),
    "uuid.uuid4": ("randomness", _RANDOM_HINT),
    "os.urandom": ("randomness", _RANDOM_HINT),
    "open": ("a file", _FILE_HINT),
    "io.open": ("a file", _FILE_HINT),
    **{f"os.{m}": ("a file", _FILE_HINT) for m in ("open", "listdir", "scandir", "walk", "stat", "popen", "system")},
    **{f"os.path.{m}": ("a file", _FILE_HINT) for m in (
        "exists", "isfile", "isdir", "getmtime", "getsize", "getctime", "getatime")},
    "glob": ("a file", _FILE_HINT),
    "shutil": ("a file", _FILE_HINT),
    **{f"pandas.read_{m}": ("a file", _FILE_HINT) for m in (
        "csv", "parquet", "json", "excel", "feather", "pickle", "table", "sql", "html", "orc", "fwf", "xml", "sas", "stata")},
    **{f"numpy.{m}": ("a file", _FILE_HINT) for m in ("load", "loadtxt", "genfromtxt", "fromfile")},
    **{f"ibis.read_{m}": ("a file", _FILE_HINT) for m in ("csv", "parquet", "json", "delta")},
    **{f"pyarrow.{m}": ("a file", _FILE_HINT) for m in (  # modules that read (and write) files
        "csv", "json", "parquet", "feather", "dataset", "orc", "fs", "ipc", "memory_map", "OSFile", "input_stream")},
    **{f"polars.{m}": ("a file", _FILE_HINT) for m in (
        "read_csv", "read_csv_batched", "read_parquet", "read_parquet_schema", "read_json", "read_ndjson", "read_ipc",
        "read_ipc_stream", "read_ipc_schema", "read_avro", "read_excel", "read_ods", "read_database", "read_database_uri",
        "read_delta", "read_iceberg", "read_clipboard", "scan_csv", "scan_parquet", "scan_ndjson", "scan_ipc", "scan_delta",
        "scan_iceberg", "scan_pyarrow_dataset")},
    "duckdb": ("a database", _FILE_HINT),  # a connection reads a database file, or files through SQL
    "ibis.connect": ("a database", _FILE_HINT),
    **{f"ibis.{backend}.connect": ("a database", _FILE_HINT) for backend in (
        "duckdb", "sqlite", "postgres", "polars", "datafusion", "pyspark", "mysql", "snowflake", "bigquery", "trino")},
    "subprocess": ("another program", _OUTSIDE_HINT),
    "socket": ("the network", _OUTSIDE_HINT),
    "urllib.request": ("the network", _OUTSIDE_HINT),
    "requests": ("the network", _OUTSIDE_HINT),
    "httpx": ("the network", _OUTSIDE_HINT),
    **{f"ibis.udf.{kind}.{flavour}": ("a Python UDF", _UDF_HINT)
       for kind in ("scalar", "agg", "elementwise", "reduction", "analytic") for flavour in ("python", "pandas", "pyarrow")},
}
_SAYS = {  # what _REFUSED's kinds mean for the step
    **{kind: f"reads {kind}, which a feature step may not: its SQL is compiled once and cached"
       for kind in ("the clock", "randomness", "a file", "a database", "another program", "the network")},
    "a Python UDF": "is a Python UDF, which toolkit cannot run: the SQL runs where no Python function is registered",
}
# parse the string "now" / "today" as the current time (pd.Timestamp("now"), ibis.literal("now", type="timestamp"))
_CLOCK_PARSERS = ("pandas.Timestamp", "pandas.to_datetime", "pandas.date_range", "pandas.bdate_range", "pandas.DatetimeIndex",
                  "pandas.period_range", "numpy.datetime64", "ibis.timestamp", "ibis.date", "ibis.literal")
_CLOCK_WORDS = ("now", "today")
# methods that read a file whatever their object is called (pathlib's): low risk of a false positive
_FILE_METHODS = ("read_text", "read_bytes")
# Path methods reading the machine, refused when the object is rooted at a pathlib name or __file__
_PATH_METHODS = ("open", "read_text", "read_bytes", "iterdir", "glob", "rglob", "exists", "is_file", "is_dir", "stat",
                 "readlink", "resolve", "cwd", "home")


def check_files(path: Path, relative: str) -> None:
    """Refuse (exit 2 at the line) what the step file and the helper files it imports
    relatively read from outside the project: the clock, randomness, files, the network,
    and Python UDFs."""
    root = path.parents[len(Path(relative).parts) - 1]
    seen: set[Path] = set()
    pending = [path]
    while pending:
        file = pending.pop()
        if file in seen or not file.is_file():
            continue
        seen.add(file)
        shown = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
        try:  # not UTF-8: exit 2 at the file and the byte's line (a helper's, not the import's in the step)
            text = decode_text(file.read_bytes(), shown)
        except OSError:
            continue
        try:
            tree = ast.parse(text, str(file))
        except (SyntaxError, ValueError):
            continue  # importing it reports the syntax error at its line
        _check_tree(tree, shown)
        pending.extend(_relative_imports(tree, file))


def _check_tree(tree: ast.Module, shown: str) -> None:
    names = _imported_names(tree)
    local = _bound_locally(tree)
    found = [(node.lineno, node.col_offset, refused) for node in ast.walk(tree)
             if (refused := _refused(node, names, local)) is not None]
    if found:  # the first in the file (ast.walk goes breadth first)
        line, _, (what, reads, hint) = min(found, key=lambda item: item[:2])
        raise ProjectError(f"{what} {_SAYS[reads]}", shown, line, hint=hint)


def _refused(node: ast.AST, names: dict[str, str], local: set[str]) -> tuple[str, str, str] | None:
    if isinstance(node, ast.Call) and (word := _clock_word(node, names, local)) is not None:
        return word, "the clock", _CLOCK_HINT
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_METHODS:
        if node.func.attr in _FILE_METHODS or _rooted_at_path(node.func.value, names):
            return f".{node.func.attr}()", "a file", _FILE_HINT
    if not isinstance(node, (ast.Name, ast.Attribute)) or isinstance(getattr(node, "ctx", None), ast.Store):
        return None
    qualified = _qualified(node, names, local)
    if qualified is None:
        return None
    parts = qualified.split(".")
    for end in range(len(parts), 0, -1):
        found = _REFUSED.get(".".join(parts[:end]))
        if found is not None:
            return qualified, *found
    return None


def _clock_word(call: ast.Call, names: dict[str, str], local: set[str]) -> str | None:
    """`pd.Timestamp("now")` -> 'pandas.Timestamp("now")': a parser given the clock's word
    (also in a list: pd.to_datetime(["today"])). ibis.literal("today") alone is a string;
    with a type (a second argument) it is parsed."""
    function = _qualified(call.func, names, local)
    if function not in _CLOCK_PARSERS or (function == "ibis.literal" and len(call.args) + len(call.keywords) < 2):
        return None
    values = [*call.args, *(keyword.value for keyword in call.keywords)]
    values += [item for value in values if isinstance(value, (ast.List, ast.Tuple)) for item in value.elts]
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip().lower() in _CLOCK_WORDS:
            return f'{function}("{value.value}")'
    return None


def _qualified(node: ast.AST, names: dict[str, str], local: set[str]) -> str | None:
    """`dt.date.today` -> "datetime.date.today" after `import datetime as dt`; None for a
    name the file binds itself (`open_orders`, a local `open`) or never imported."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in names:
        base = names[node.id]
    elif node.id == "open" and node.id not in local:  # the builtin
        base = "open"
    else:
        return None
    return ".".join([base, *reversed(attributes)])


def _rooted_at_path(node: ast.AST, names: dict[str, str]) -> bool:
    """The object of a method call is built from pathlib (Path(__file__).parent / "x") or __file__."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.BinOp):
            node = node.left
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            break
    return isinstance(node, ast.Name) and (node.id == "__file__" or names.get(node.id, "").startswith("pathlib"))


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> the qualified name it was imported as (`from datetime import date as d`: d -> datetime.date)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _bound_locally(tree: ast.Module) -> set[str]:
    """Names the file assigns, defines or takes as parameters anywhere (a local `open` is not the builtin)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def _relative_imports(tree: ast.Module, file: Path) -> list[Path]:
    """The files `from .x import y`, `from . import x` and `from ..shared import z` name."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        if node.level > len(file.parents):
            continue  # above the file system's root: importing it fails
        folder = file.parents[node.level - 1]
        base = folder.joinpath(*node.module.split(".")) if node.module else folder
        found += [base.with_suffix(".py") if node.module else base, base / "__init__.py"]
        found += [base / f"{alias.name}.py" for alias in node.names]
    return [path for path in found if path.suffix == ".py"]


# -- while the step's Python runs -----------------------------------------------------------------


class _RecordingEnviron(type(os.environ)):
    """os.environ while steps are evaluated: the same variables (the same underlying dict:
    a write by any thread is seen by all); what a thread evaluating a step reads is
    recorded in that thread's innermost `reads`, as "env:NAME" -> value (None: unset),
    the way dbtnames' env_var() records it. Other threads' reads are not recorded."""

    def __init__(self, real):
        super().__init__(real._data, real.encodekey, real.decodekey, real.encodevalue, real.decodevalue)
        self.real = real

    def _record(self, key, value) -> None:
        stack = getattr(_evaluating, "reads", None)
        if stack and isinstance(key, str):
            stack[-1].setdefault(f"env:{key}", value)  # the first read is the value from outside

    def __getitem__(self, key):
        try:
            value = super().__getitem__(key)
        except KeyError:
            self._record(key, None)
            raise
        self._record(key, value)
        return value

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __iter__(self):  # dict(os.environ), .items(): the step reads every variable
        for key in super().__iter__():
            self._record(key, super().get(key))
            yield key


_evaluating = threading.local()  # .reads: this thread's stack of the dicts recording its steps' reads
_installed = {"count": 0, "real": None}  # how many evaluations run, in any thread; the os.environ they replaced
_lock = threading.Lock()


@contextlib.contextmanager
def evaluating(reads: dict | None):
    """While the step module is imported or its function called: the environment variables
    it reads are recorded in `reads` (None: not recorded), what it prints goes to stderr.
    Nested (a ref() compiling an upstream ibis step) or in several threads at once: each
    records its own; the last one out puts the real os.environ back."""
    stack = _evaluating.__dict__.setdefault("reads", [])
    if reads is not None:
        with _lock:
            if _installed["count"] == 0:
                _installed["real"] = os.environ
                os.environ = _RecordingEnviron(os.environ)
            _installed["count"] += 1
        stack.append(reads)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if reads is not None:
            stack.pop()
            with _lock:
                _installed["count"] -= 1
                if _installed["count"] == 0:
                    os.environ = _installed["real"]
