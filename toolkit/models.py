"""Model steps: a function that returns an unfitted scikit-learn estimator, declared
with `@model` beside the tables it learns from and scores.

    # models/churn.py
    from sklearn.ensemble import HistGradientBoostingClassifier
    from toolkit import model

    @model(training="churn_training", label="churned", key=["customer_id", "snapshot_date"],
           scoring_table="customer_features", split="time", split_column="snapshot_date",
           metrics=["roc_auc", "accuracy"], gates={"roc_auc": 0.6})
    def churn():
        return HistGradientBoostingClassifier(max_iter=200, random_state=0)

The function's name is the model's name. It may return one estimator or a dict of
named candidates (each is fitted on the same split; the best by the first metric is
registered). Any scikit-learn-compatible estimator works: nothing here inspects it
beyond get_params/fit/predict(/predict_proba).

`scoring` says where the production version scores `scoring_table`:

- "auto" (default): inside the warehouse as one compiled SELECT when every step of
  the fitted pipeline is supported (toolkit.modelsql), otherwise in Python; the run
  record says which and why;
- "sql": always in the warehouse; a step the compiler does not support fails the
  model step, naming that step;
- "python": bounded Arrow batches through the estimator's predict/predict_proba.

`promote` says what happens to a version a run trains, once it passes its `gates`:

- "auto" (default; True means the same): it becomes production;
- "challenger": only if it also beats the production version on the same held-out
  rows, both scored by this run, by at least `margin` in the first metric (margin 0, the
  default: greater, a tie is not promoted; any version becomes production when there is
  none yet);
- "manual" (False means the same): it waits as a candidate until a person runs
  `toolkit models approve NAME VERSION`.

`segments=["region", ...]` computes every metric on the held-out rows per value of
each segment column, the largest gap between values (`max_gap`), and for binary
classifiers the demographic-parity and equalized-odds differences; stored with the
version (`toolkit models show`). A gate `"max_gap.roc_auc": 0.05` (or
`max_gap.demographic_parity`, `max_gap.equalized_odds`) is a maximum: a larger gap in
any segment column keeps the version from production.

A model whose features derive from a column tagged `pii` (sources.toml / seeds.toml
`tags`, carried through column lineage: toolkit/columntags.py) fails at compile time
unless it declares `allow_tags=["pii"]`.

A production version chosen by hand (`toolkit models promote | rollback | approve`)
stays until a person or the policy, applied to a newly trained version, changes it.
`toolkit run --select NAME --full-refresh` trains a new version even when code and
data are unchanged.

What decides retraining: the model file's code (comments and layout aside), the declaration
but how versions are scored and watched (`scoring`, `scoring_table`, `monitors`, `outcomes`:
changing those re-scores with the version already trained) and but what changes no row
(`promote`, `margin`, `description`, `meta`, `allow_tags`: changing those does nothing;
README's table), the training data, and the candidates' parameters (get_params of what the function returns, unfitted),
so a parameter read from a file under models/ (models/params.json) retrains when that
file changes. Those parameters are read when model files are imported, which a run
does only when something under features/, models/ or warehouse/ (or the config)
changed; a parameter read from outside them (an environment variable, a file
elsewhere) is seen at the next such change, or with --full-refresh.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import dataclasses
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from toolkit import interrupts, limits
from toolkit.errors import ProjectError, did_you_mean
from toolkit.modelkeywords import check_types
from toolkit.modelkeywords import names as _names

SPLITS = ("random", "time", "group")
SCORING_MODES = ("auto", "sql", "python")
PROMOTE_POLICIES = ("auto", "challenger", "manual")
GAP_PREFIX = "max_gap."  # a gate on the largest gap between segment values (a maximum)
FAIRNESS_GAPS = ("demographic_parity", "equalized_odds")
MODELS_DIR = "models"
# the columns scoring writes beside the key (toolkit.scoring), and proba_<class> per class
OUTPUT_COLUMNS = ("prediction", "model_version", "scored_at", "run_id")
PROBA_PREFIX = "proba_"
# What a change of each @model keyword makes the next run do (README, "Models"):
# retrain: every keyword not named below (what is fitted, on which rows, how it is evaluated);
# re-score: how versions are scored and watched, not what is fitted.
SCORING_ONLY = ("scoring", "table_to_score", "monitors", "outcomes")
SCORING_KEYWORDS = ("scoring", "scoring_table", "monitors", "outcomes")  # the same, as @model(...) spells them
# nothing: documentation (description, meta), the policy for the next version trained
# (promote, margin) and a compile-time permission (allow_tags): no rows change.
NOTHING_ONLY = ("promote", "margin", "description", "meta", "allow_tags")  # fields and keywords spell them alike
_NOT_DECLARED = ("build", "file", "line", "path", "description", "meta", "training_code_hash",
                 "declared_code_hash", "training_code_hash_before", "training_code_hash_docstrings")  # not what is declared


@dataclass
class ModelSpec:
    """Everything declared about one model step; parameters are stored as given."""

    name: str
    build: Callable[[], Any] | None  # None in a spec from the compile cache, until candidates() needs it
    training: str
    label: str
    key: list[str]
    table_to_score: str | None = None
    scoring: str = "auto"  # auto | sql | python
    features: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    split: str = "random"
    split_column: str | None = None
    test_fraction: float = 0.2
    seed: int = 0
    metrics: list[str] | None = None
    gates: dict[str, float] = field(default_factory=dict)
    sample: float | None = None
    promote: str = "auto"  # auto | challenger | manual (see the module docstring)
    margin: float = 0.0  # challenger: by how much the first metric must beat production's
    segments: list[str] = field(default_factory=list)  # columns whose values metrics are computed per (fairness)
    allow_tags: list[str] = field(default_factory=list)  # blocking column tags (pii) the features may carry
    as_of: str | None = None  # leakage check: no feature_times column may be later than this one
    feature_times: list[str] = field(default_factory=list)
    monitors: dict = field(default_factory=dict)  # drift/performance thresholds (monitoring/thresholds.py)
    outcomes: str | None = None  # step/seed whose rows (key + label) arrive after scoring: realized metrics
    description: str = ""  # for the docs site (else the function's docstring); not part of what trains
    meta: dict = field(default_factory=dict)  # free-form metadata (owner, ...), shown by toolkit docs
    file: str = ""
    line: int | None = None
    code_hash: str = ""
    training_code_hash: str = ""  # the file's code without @model's re-score and nothing keywords (training_code_hash())
    training_code_hash_before: str = ""  # the same under the rule before NOTHING_ONLY: finds versions registered then
    training_code_hash_docstrings: str = ""  # training_code_hash with docstrings in it, as before: finds versions registered then
    declared_code_hash: str = ""  # the file's code without @model's nothing keywords: what re-scores
    params_hash: str = ""  # the candidates' get_params, made canonical: what decides retraining beside the code
    path: str = ""  # the model file, absolute: where a cached spec finds its function

    def without_code(self) -> "ModelSpec":
        """This spec with no function: what the compile cache keeps (models/*.py stay unimported)."""
        return dataclasses.replace(self, build=None)

    @property
    def scoring_table(self) -> str:
        return self.table_to_score or self.training

    def declaration_hash(self, purpose: str = "content") -> str:
        """A digest of the declaration (code and parameters' hashes included), for `purpose`:
        "content": the step's content hash, what re-scores (no nothing keyword, no comment);
        "training": what finds a version trained before (no re-score nor nothing keyword);
        "training_docstrings", "training_before", "file_before": the same as toolkit computed
        them before (docstrings counted; nothing keywords counted; the file's bytes), under
        which older versions are registered. Keywords left out count at their defaults, so a
        model declaring none of them hashes the same under every rule."""
        declared = {k: v for k, v in vars(self).items() if k not in _NOT_DECLARED}
        if purpose == "file_before":
            return _digest(declared)
        code, defaults = {
            "content": (self.declared_code_hash, NOTHING_ONLY),
            "training": (self.training_code_hash, SCORING_ONLY + NOTHING_ONLY),
            "training_docstrings": (self.training_code_hash_docstrings or self.training_code_hash, SCORING_ONLY + NOTHING_ONLY),
            "training_before": (self.training_code_hash_before or self.training_code_hash, SCORING_ONLY),
        }[purpose]
        declared["code_hash"] = code or self.code_hash
        declared.update({f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
                         for f in dataclasses.fields(self) if f.name in defaults and f.name in declared})
        return _digest(declared)

    def candidates(self) -> dict[str, Any]:
        """name -> unfitted estimator, from the model function (its file imported now if
        this spec came from the compile cache: only a model that trains pays for it)."""
        if self.build is None:
            self.build = _function(self)
        built = self._call_build()
        found = dict(built) if isinstance(built, dict) else {type(built).__name__: built}
        if not found:
            raise ProjectError(f"model {self.name}: the model function returned no estimator", self.file, self.line,
                               hint="return an estimator, e.g. LogisticRegression(), or a dict of name -> estimator")
        for name, estimator in found.items():
            if not isinstance(name, str) or not name.strip():  # recorded as the candidate's name, shown in model_versions
                raise ProjectError(f"model {self.name}: the model function returned a dict with the key {name!r}: candidate names "
                                   "must be non-empty text", self.file, self.line, hint='e.g. {"logistic": LogisticRegression()}')
            if isinstance(estimator, type) or not (callable(getattr(estimator, "fit", None)) and hasattr(estimator, "get_params")):
                what = f"the class {estimator.__name__}" if isinstance(estimator, type) else f"{type(estimator).__name__} {estimator!r:.40}"
                raise ProjectError(f"model {self.name}: the model function returned {what}{f' as {name!r}' if isinstance(built, dict) else ''}, "
                                   "not a scikit-learn estimator", self.file, self.line,
                                   hint="return an instance: LogisticRegression(), with the parentheses")
        return found

    def _call_build(self) -> Any:
        """The model function's return. What it raises is a mistake in the project, found
        only now: exit 2 at its line in the model file, like an import's. SystemExit,
        KeyboardInterrupt and os._exit too (project code must not end the run or pose as
        Ctrl-C); a real Ctrl-C (the watcher saw SIGINT) stays one."""
        try:
            with _exit_raises():
                return self.build()
        except ProjectError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as error:
            if interrupts.is_ctrl_c(error):
                raise
            code = getattr(self.build, "__code__", None)
            line = user_line(error, code.co_filename if code is not None else self.path) or self.line
            what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            ending = isinstance(error, (SystemExit, KeyboardInterrupt, ProcessExitCalled))
            raise ProjectError(f"model {self.name}: {what}", self.file, line,
                               hint="project code must not end the run: return the estimator" if ending else None) from None


def _digest(declared: dict) -> str:
    return hashlib.sha256(json.dumps(declared, sort_keys=True, default=str).encode()).hexdigest()


def feature_names(spec: ModelSpec, columns: list[str]) -> list[str]:
    """The declared features, or every column except label, key, exclude, the split
    column and the leakage check's time columns (they date the row, they do not describe it)."""
    if spec.features is not None:
        return list(spec.features)
    skip = {spec.label, *spec.key, *spec.exclude, spec.split_column, spec.as_of, *spec.feature_times}
    return [c for c in columns if c not in skip]


def model(
    *,
    training: str,
    label: str,
    key: str | list[str],
    scoring_table: str | None = None,
    scoring: str = "auto",
    features: list[str] | None = None,
    exclude: list[str] = (),
    split: str = "random",
    split_column: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    metrics: list[str] | None = None,
    gates: dict[str, float] | None = None,
    sample: float | None = None,
    promote: bool | str = "auto",
    margin: float = 0.0,
    segments: list[str] = (),
    allow_tags: list[str] = (),
    as_of: str | None = None,
    feature_times: list[str] = (),
    monitors: dict | None = None,
    outcomes: str | None = None,
    description: str = "",
    meta: dict | None = None,
):
    """Declare a model step; see the module docstring."""

    def declare(function: Callable[[], Any]) -> Callable[[], Any]:
        function.__toolkit_model__ = ModelSpec(
            name=function.__name__,
            build=function,
            training=training,
            label=label,  # names exactly as the warehouse stores them (issue 18)
            key=_names(key),
            table_to_score=scoring_table,
            scoring=scoring,
            features=_names(features) if features is not None else None,
            exclude=_names(exclude),
            split=split,
            split_column=split_column or None,
            test_fraction=test_fraction,
            seed=seed,
            metrics=_names(metrics) if metrics else None,
            gates=dict(gates) if isinstance(gates, dict) else gates or {},  # gates=5 is kept for check_types to name
            sample=sample,
            promote={True: "auto", False: "manual"}.get(promote, promote) if isinstance(promote, bool) else promote,
            margin=margin,
            segments=_names(segments),
            allow_tags=_names(allow_tags),
            as_of=as_of or None,
            feature_times=_names(feature_times),
            monitors=monitors if monitors is not None else {},
            outcomes=outcomes or None,
            description=description,
            meta=meta if meta is not None else {},
        )
        _DECLARED.setdefault(function.__module__, []).append(function)
        return function

    return declare


def discover_models(root: Path) -> dict[str, ModelSpec]:
    """Import models/*.py and collect the functions declared with @model."""
    folder = root / MODELS_DIR
    specs: dict[str, ModelSpec] = {}
    declared_at: dict[str, str] = {}  # model name -> file:line of its def, for a second declaration
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        relative = path.relative_to(root).as_posix()
        module = _import(path, relative)
        for function in _DECLARED.pop(module.__name__, []):  # all of them: a second def of one name hides the first
            _check_unique(function, relative, declared_at)
            _check_signature(function, relative)
        for _, function in inspect.getmembers(module, inspect.isfunction):
            spec = getattr(function, "__toolkit_model__", None)
            if spec is None or function.__module__ != module.__name__:
                continue
            spec.file, spec.line = relative, inspect.getsourcelines(function)[1]
            spec.code_hash = code_hash(path)
            spec.training_code_hash, spec.declared_code_hash = code_hashes_without(path, SCORING_KEYWORDS + NOTHING_ONLY, NOTHING_ONLY)
            spec.training_code_hash_docstrings, spec.training_code_hash_before = code_hashes_without(
                path, SCORING_KEYWORDS + NOTHING_ONLY, SCORING_KEYWORDS, docstrings=True)
            spec.params_hash = _params_hash(spec)
            spec.path = str(path.resolve())
            _validate(spec)
            specs[spec.name] = spec
    return specs


# module name -> the functions @model declared while it was imported, in order: a function
# redefined under the same name is gone from the module, not from here
_DECLARED: dict[str, list[Callable]] = {}


def _def_line(function: Callable) -> int | None:
    """The line of `function`'s `def` (its code object starts at its first decorator)."""
    try:
        lines, start = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return None
    for offset, text in enumerate(lines):
        if re.match(r"\s*(async\s+)?def\s", text):
            return start + offset
    return start


def _check_unique(function: Callable, relative: str, declared_at: dict[str, str]) -> None:
    """A model's name is its function's: a second @model function of that name (in this
    file or another) would replace the first unseen."""
    here = f"{relative}:{_def_line(function)}"
    if function.__name__ in declared_at:
        raise ProjectError(f"duplicate model name '{function.__name__}': declared at {declared_at[function.__name__]} "
                           f"and at {here}", relative, _def_line(function), hint="rename one of the functions")
    declared_at[function.__name__] = here


def _check_signature(function: Callable, relative: str) -> None:
    """toolkit calls a model function with no arguments (it reads its data itself): a
    parameter without a default failed only when the model trained, with no line."""
    try:
        inspect.signature(function).bind()
    except TypeError:
        required = [name for name, parameter in inspect.signature(function).parameters.items()
                    if parameter.default is inspect.Parameter.empty
                    and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        raise ProjectError(f"model {function.__name__}: the model function takes no parameters, but it has "
                           f"{', '.join(repr(name) for name in required)}", relative, _def_line(function),
                           hint=f"def {function.__name__}(): return an unfitted estimator; @model(...) names its data") from None


def code_hash(path: Path) -> str:
    """The model file's bytes' digest, but a leading UTF-8 BOM: an editor that adds one
    changes no code, and the model retrained. A file without a BOM hashes as it always did."""
    return hashlib.sha256(path.read_bytes().removeprefix(codecs.BOM_UTF8)).hexdigest()


def code_hashes_without(path: Path, *keyword_sets: tuple[str, ...], docstrings: bool = False) -> list[str]:
    """Per set of @model keywords, the file's syntax tree (comments and layout aside) without
    them: editing one of them changes what that hash decides nothing about. Parsed once.
    Docstrings are documentation, left out like comments (docstrings=True: kept, the rule
    under which older versions were registered)."""
    tree = ast.parse(path.read_bytes())
    if not docstrings:
        _drop_docstrings(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _names_model(node.func)]
    declared = [call.keywords for call in calls]
    hashes = []
    for keywords in keyword_sets:
        for call, written in zip(calls, declared):
            call.keywords = [k for k in written if k.arg not in keywords]
        hashes.append(hashlib.sha256(ast.dump(tree).encode()).hexdigest())
    return hashes


def _drop_docstrings(tree: ast.Module) -> None:
    """Remove the docstring of the module and of every class and function (Python keeps a
    function's in __doc__ only; it runs nothing)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:]


def _names_model(function: ast.expr) -> bool:
    return (isinstance(function, ast.Name) and function.id == "model") or (isinstance(function, ast.Attribute) and function.attr == "model")


def _params_hash(spec: ModelSpec) -> str:
    """A digest of every candidate's parameters (get_params, nested estimators included),
    unfitted: parameters read from elsewhere (models/params.json, a constant in another
    module) change it without a byte of the model file changing. Computed when the model
    files are imported, i.e. whenever anything under models/ (or the rest of the compile
    cache's key) changed; a spec from the cache keeps it, so a no-op run imports nothing.
    A model function that raises here raises again, with its message, when it trains."""
    try:
        with _exit_raises(), limits.time_limit(limits.PROJECT_CODE_SECONDS):
            built = spec.build()
        text = json.dumps(_canonical(built), sort_keys=True)
    except (Exception, SystemExit, KeyboardInterrupt, limits.TimeLimitExceeded) as error:
        if interrupts.is_ctrl_c(error):
            raise  # the user's, not the model function's
        text = f"unavailable: {type(error).__name__}"
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """`value` as JSON that is the same for equal parameters in any process: estimators
    as class + parameters, floats by repr (nan, inf), arrays by dtype, shape and bytes,
    functions and classes by qualified name, anything else by type and repr (memory
    addresses removed)."""
    import numpy as np

    if hasattr(value, "get_params") and not isinstance(value, type):
        return {"class": _qualified(type(value)), "params": _canonical(value.get_params(deep=False))}
    if isinstance(value, dict):
        return [[_canonical(k), _canonical(v)] for k, v in sorted(value.items(), key=lambda item: repr(item[0]))]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_canonical(v) for v in value]]
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, float):
        return ["float", repr(value)]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ["ndarray", list(value.shape), _canonical(value.ravel().tolist())]
        return ["ndarray", str(value.dtype), list(value.shape), hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()]
    if isinstance(value, np.random.RandomState):
        state = value.get_state()
        return ["RandomState", hashlib.sha256(state[1].tobytes()).hexdigest(), int(state[2])]
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return ["callable", _qualified(value)]
    return [_qualified(type(value)), re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))]


def _qualified(thing: Any) -> str:
    return f"{getattr(thing, '__module__', '?')}.{getattr(thing, '__qualname__', type(thing).__qualname__)}"


def _function(spec: ModelSpec) -> Callable[[], Any]:
    """The model function of a cached spec, from its file (which the cache key says is unchanged)."""
    module = _import(Path(spec.path), spec.file)
    function = getattr(module, spec.name, None)
    if getattr(function, "__toolkit_model__", None) is None:
        raise ProjectError(f"model {spec.name} is no longer declared in {spec.file}", spec.file, spec.line)
    return function


def _import(path: Path, relative: str):
    _DECLARED.pop(f"toolkit_models_{path.stem}", None)  # left by an import that failed half-way
    return import_file(path, relative, f"toolkit_models_{path.stem}", "the model file")


def import_file(path: Path, relative: str, module_name: str, what: str):
    """Import project code (a model file, a Python feature step): a failure is exit 2 at its line."""
    from toolkit.config import decode_text

    decode_text(path.read_bytes(), relative)  # Python imports a stray Latin-1 byte in a comment; inspect cannot read it back
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        with _exit_raises(), limits.time_limit(limits.PROJECT_CODE_SECONDS):
            loader_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ProjectError(f"Python syntax error: {error.msg}", relative, error.lineno, error.offset) from None
    # the user's module failed to import: point at it, not at us. SystemExit and
    # KeyboardInterrupt too: project code must not end the run (exit 0) or pose as Ctrl-C.
    except (Exception, SystemExit, KeyboardInterrupt, limits.TimeLimitExceeded) as error:
        what_failed = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise ProjectError(f"importing {what} failed: {what_failed}", relative, user_line(error, path)) from None
    return module


class ProcessExitCalled(Exception):
    """os._exit() called by project code while toolkit imported it."""


@contextlib.contextmanager
def _exit_raises():
    """os._exit() ends the process before any handler runs, so an import calling it would
    end the run "successfully" having done nothing. While project code is imported,
    os._exit raises instead (this is a guard against mistakes, not a sandbox: project
    code is trusted like any Python the user runs). Steps and models import on several
    threads at once: the first in puts the guard up, the last out takes it down (each
    restoring what it found left os._exit refusing for good when two overlapped)."""
    with _GUARD_LOCK:
        if not _GUARDING[0]:
            os._exit = _refuse_exit
        _GUARDING[0] += 1
    try:
        yield
    finally:
        with _GUARD_LOCK:
            _GUARDING[0] -= 1
            if not _GUARDING[0]:
                os._exit = REAL_EXIT


REAL_EXIT = os._exit  # as Python made it: toolkit's own exit uses it (cli.console_main)
_GUARD_LOCK = threading.Lock()
_GUARDING = [0]  # imports of project code under way


def _refuse_exit(status: int = 0):
    raise ProcessExitCalled(f"os._exit({status}) called")


def user_line(error: BaseException, path: Path | str) -> int | None:
    """The innermost line of the traceback that is in the user's file at `path`."""
    line, traceback = None, error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == str(path):
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def output_column(column: str) -> str | None:
    """What `column` would collide with in a predictions table (compared without case: a
    case-insensitive catalog holds one of Prediction and prediction), or None."""
    if not isinstance(column, str):
        return None
    folded = column.lower()
    if folded in OUTPUT_COLUMNS:
        return f"the column {folded}"
    if folded.startswith(PROBA_PREFIX):
        return f"a {PROBA_PREFIX}<class> column"
    return None


def _validate(spec: ModelSpec) -> None:
    def fail(message: str, hint: str | None = None):
        raise ProjectError(f"model {spec.name}: {message}", spec.file, spec.line, hint=hint)

    check_types(spec, fail)  # first: the checks below compare and look up the values
    if spec.scoring not in SCORING_MODES:
        hint = did_you_mean(spec.scoring, SCORING_MODES)
        if hint is None:  # scoring= named the table before it named the mode
            hint = f"scoring is one of {', '.join(SCORING_MODES)}; the table to score is scoring_table={spec.scoring!r}"
        fail(f"unknown scoring '{spec.scoring}'", hint)
    if not isinstance(spec.description, str):
        fail(f"description must be a string, got {type(spec.description).__name__}")
    if not isinstance(spec.meta, dict):
        fail(f"meta must be a dict, got {type(spec.meta).__name__}")
    if spec.promote not in PROMOTE_POLICIES:
        fail(f"unknown promote policy {spec.promote!r}", did_you_mean(str(spec.promote), PROMOTE_POLICIES) or f"one of {', '.join(PROMOTE_POLICIES)}")
    if isinstance(spec.margin, bool) or not isinstance(spec.margin, (int, float)) or not spec.margin >= 0:
        fail(f"margin must be a number >= 0, got {spec.margin!r}")
    if spec.margin and spec.promote != "challenger":
        fail(f"margin applies to promote='challenger' only, not promote={spec.promote!r}")
    for gate, threshold in spec.gates.items():
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            fail(f"gate '{gate}' must be a number, got {threshold!r}", f"e.g. gates={{{gate!r}: 0.7}}")
        if gate.startswith(GAP_PREFIX):
            if not spec.segments:
                fail(f"gate '{gate}' needs segments=[...] to compute gaps between")
            from sklearn.metrics import get_scorer_names

            gap = gate.removeprefix(GAP_PREFIX)
            if gap not in FAIRNESS_GAPS and gap not in get_scorer_names():
                known = [*FAIRNESS_GAPS, *get_scorer_names()]
                fail(f"gate '{gate}' names no metric", did_you_mean(gap, known) or f"max_gap.<a scikit-learn metric> or max_gap.{' / '.join(FAIRNESS_GAPS)}")
        else:
            from sklearn.metrics import get_scorer_names

            if gate not in get_scorer_names():
                fail(f"gate '{gate}' names no metric", did_you_mean(gate, get_scorer_names()) or "see sklearn.metrics.get_scorer_names()")
    if not all(isinstance(tag, str) and tag for tag in spec.allow_tags):
        fail(f"allow_tags must be a list of tag names, e.g. [\"pii\"], got {spec.allow_tags!r}")
    if spec.split not in SPLITS:
        fail(f"unknown split '{spec.split}'", did_you_mean(spec.split, SPLITS) or f"one of {', '.join(SPLITS)}")
    if spec.split in ("time", "group") and not spec.split_column:
        fail(f"split='{spec.split}' needs split_column")
    if not 0 < spec.test_fraction < 1:
        fail(f"test_fraction must be between 0 and 1, got {spec.test_fraction}")
    if spec.sample is not None and not 0 < spec.sample <= 1:
        fail(f"sample must be a fraction in (0, 1], got {spec.sample}")
    if not spec.key:
        fail("key must name at least one column")
    if spec.label in spec.key:
        fail(f"the label '{spec.label}' is also a key column: the key names each row, the label is what the model learns")
    if spec.features is not None and spec.label in spec.features:  # the model would learn the answer it predicts
        fail(f"the label '{spec.label}' is also listed in features: a model must not learn from the column it predicts",
             f"remove '{spec.label}' from features=[...]")
    for role, column in [*(("key", k) for k in spec.key), ("label", spec.label)]:
        taken = output_column(column)
        if taken:
            fail(f"{role} column '{column}' has the name of {taken} that scoring writes to the predictions table",
                 f"rename it in the {'training and scoring steps' if role == 'key' else 'training step'}, "
                 f"e.g. select {column} as {spec.name}_{column}: {', '.join(OUTPUT_COLUMNS)} "
                 f"and {PROBA_PREFIX}* are the predictions table's own columns")
    if spec.metrics:
        from sklearn.metrics import get_scorer_names

        for name in spec.metrics:
            if name not in get_scorer_names():
                fail(f"unknown metric '{name}'", did_you_mean(name, get_scorer_names()) or "see sklearn.metrics.get_scorer_names()")
    if not isinstance(spec.monitors, dict):
        fail(f"monitors must be a dict of thresholds, e.g. {{'psi': 0.2}}, got {spec.monitors!r}")
    if bool(spec.as_of) != bool(spec.feature_times):
        fail("a leakage check needs both as_of (the label's as-of column) and feature_times")
