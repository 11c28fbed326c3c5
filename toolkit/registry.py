"""The model registry: every trained version of every model, as rows in the warehouse.

`toolkit.model_versions`        one row per version: status, fingerprint, metrics,
                                parameters, features, lineage, library versions and
                                the skops artifact bytes with their sha256
`toolkit.model_status_history`  every status change in order (`seq`): registered,
                                promoted, approved, archived, rolled back, and
                                versions another environment chose (`env`, status
                                "chosen", by its run: action "choose", or by a
                                person: "approve", "promote", "rollback" with
                                --env; prod's rows have env NULL); who
                                (`actor`: TOOLKIT_ACTOR, else the OS user), when,
                                and why (the policy, the command or the run)

Which version was production when, in plain SQL:

    select model, version, changed_at as production_from,
           lead(changed_at) over (partition by model order by seq) as production_until
    from toolkit.model_status_history
    where status = 'production' and coalesce(env, 'prod') = 'prod'

Artifacts are data, not code (DESIGN decision 7). They are written with
`skops.io.dumps` and `load` hands them to `skops.io.loads` only after

1. the sha256 of the stored bytes equals the one recorded at registration, and
2. every type the file names (classes, functions, bound methods, bit generators) is
   in ALLOWED_TYPES, the fixed allow-list below: the scikit-learn, numpy and scipy
   types of Pipeline, ColumnTransformer, SimpleImputer, StandardScaler,
   OneHotEncoder, OrdinalEncoder, LogisticRegression, LinearRegression, Ridge, Lasso,
   ElasticNet and their *CV forms, the
   RandomForest/ExtraTrees/GradientBoosting/HistGradientBoosting and DecisionTree
   classifiers and regressors, and their fitted internals.

Artifacts are skops files only: pickle and joblib are never accepted. A project
trusts more types by naming each one in its config (`trusted_types = [...]`, e.g.
LightGBM's classes); an estimator that needs a type outside both lists is refused
when it is registered, naming the types, rather than failing at scoring.
Note that the sha256 proves the bytes are the ones registered, not who registered
them: anyone who can write the table can replace both, which is why the allow-list
is checked on every load as well.

Values reach SQL only as literals built by sqlglot: the artifact as a hex string
built by the engine adapter (UNHEX on DuckDB, DECODE(..., 'hex') on PostgreSQL),
JSON documents through PARSE_JSON. `register`, `promote` and `rollback` each commit
their own transaction, so call them outside one.
"""

from __future__ import annotations

import hashlib
import json
import platform
import threading
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlglot import exp

from toolkit.artifacts import ALLOWED_TYPES, artifact_types, untrusted_types  # noqa: F401 (part of this API)
from toolkit import stateschema
from toolkit.errors import ProjectError, StepFailed, did_you_mean
from toolkit.mlcore import Feature, features_of, json_safe  # noqa: F401 (json_safe: part of this API)
from toolkit.state import PROD, SCHEMA, actor, audit, now, table

VERSIONS, HISTORY = "model_versions", "model_status_history"
CHOSEN = "chosen"  # the status of a history row of another environment's choice (model_versions.status never is)
# The actions of another environment's choice: its run's, a person's (models approve/promote/rollback --env).
CHOICES = ("choose", "approve", "promote", "rollback")
GATE_FAILED = "failed its gate "  # the reason of a history row with action "gate", before training's text

# Defined with the other state tables in stateschema.py (versions, migrations).
TABLES = {name: stateschema.columns(name) for name in (VERSIONS, HISTORY)}

# Every type a stored artifact may name, as skops spells it (module.qualname).
def create_table(name: str) -> exp.Create:
    """The CREATE TABLE statement of one registry table, for any engine to generate."""
    return stateschema.BY_NAME[name].create()


_WRITES = threading.RLock()  # version and seq numbers are read, then written


@dataclass(frozen=True)
class Version:
    """One registered model version, without its artifact bytes."""

    model: str
    version: int
    status: str
    fingerprint: str
    candidate: str
    metrics: dict
    params: dict
    features: list[Feature]  # stored as JSON [{name, type[, categories]}]: Feature.to_json / from_json
    training_table: str
    run_id: int | None
    created_at: datetime
    sha256: str
    size: int
    python_version: str
    sklearn_version: str
    numpy_version: str
    skops_version: str
    scoring_sql: str | None = None  # the version as one SELECT over its scoring table, when it compiles
    segments: dict | None = None  # column -> metrics per value and gaps on the held-out rows (training.segment_metrics)
    evaluation: dict | None = None  # split, class balance, curves, confusion matrix or residuals (evaluation.py)


class StatusChange(NamedTuple):
    version: int
    status: str
    action: str
    changed_at: datetime
    run_id: int | None
    reason: str
    actor: str | None = None  # None in rows written before the state had the column
    env: str | None = None  # the environment whose run or command made the change; None: prod (rows before version 7)

    @property
    def in_env(self) -> str:
        return self.env or PROD



_COLUMNS = (
    "model", "version", "status", "fingerprint", "candidate", "metrics", "params", "features", "training_table",
    "run_id", "created_at", "artifact_sha256", "artifact_size", "python_version", "sklearn_version",
    "numpy_version", "skops_version", "scoring_sql", "segments", "evaluation",
)
# columns of state schema versions 3 (segments) and 5 (evaluation): absent from a store a reader has not migrated
_LATER = {"segments", "evaluation"}


class Registry:
    def __init__(self, engine, trusted: tuple[str, ...] = ()):
        self.engine = engine
        self.allowed = ALLOWED_TYPES | frozenset(trusted)  # toolkit's list plus the project's own
        self._exists = False  # the tables, once seen, do not go away
        self._current = False  # the model_versions columns of the current schema version are there

    # -- tables ---------------------------------------------------------------------------

    def exists(self) -> bool:
        if not self._exists:
            self._exists = set(TABLES) <= set(self.engine.relations(SCHEMA))
        return self._exists

    def ensure(self) -> None:
        """The registry tables exist at the current state schema version (stateschema.py)."""
        stateschema.ensure(self.engine)
        self._exists = True

    # -- writing --------------------------------------------------------------------------

    def register(
        self, *, model: str, fingerprint: str, estimator, candidate: str, metrics: dict,
        params: dict | None = None, features: list[Feature] | list[dict], training_table: str, run_id: int | None,
        scoring_sql: str | None = None, segments: dict | None = None, evaluation: dict | None = None,
        failed_gate: str | None = None, env: str = PROD,
    ) -> int:
        """Store a fitted estimator as the model's next version (status 'candidate'); its number.
        `failed_gate` (training's text, e.g. "roc_auc 0.53 < 0.6") adds a history row, action
        "gate": the version stays a candidate, but one that failed its gates (`failed_gates`).

        `params` defaults to `estimator.get_params(deep=True)`; values JSON cannot hold
        are stored as their repr. Refuses (StepFailed) an estimator whose artifact
        would name a type outside ALLOWED_TYPES, since it could never be loaded.
        """
        import numpy
        import sklearn
        import skops
        import skops.io

        data = skops.io.dumps(estimator, compression=zipfile.ZIP_DEFLATED)
        untrusted = untrusted_types(data, allowed=self.allowed)
        if untrusted:
            raise StepFailed(
                f"model {model}: cannot register {candidate}: its artifact would contain types outside "
                f"toolkit's allow-list, so it could never be loaded: {', '.join(untrusted)} "
                "(trust them by name in the project's trusted_types if you have reviewed them)"
            )
        if params is None:
            params = estimator.get_params(deep=True)
        with _WRITES:
            version = self._next(VERSIONS, "version", model)
            created_at = now()
            row = {
                "model": model, "version": version, "status": "candidate", "fingerprint": fingerprint,
                "candidate": candidate, "metrics": _json(metrics), "params": _json(params),
                "features": _json([Feature.from_json(f).to_json() for f in features]), "training_table": training_table, "run_id": run_id,
                "created_at": created_at, "python_version": platform.python_version(),
                "sklearn_version": sklearn.__version__, "numpy_version": numpy.__version__,
                "skops_version": skops.__version__, "artifact": self.engine.binary_literal(data),
                "artifact_sha256": hashlib.sha256(data).hexdigest(), "artifact_size": len(data),
                "scoring_sql": scoring_sql, "segments": _json(segments) if segments else None,
                "evaluation": _json(evaluation) if evaluation else None,
            }
            with self.engine.transaction():
                self.engine.insert_rows(table(VERSIONS), [row])
                self._record(model, [(version, "candidate", "registered")], "register", run_id, created_at, env)
                if failed_gate:
                    self._record(model, [(version, "candidate", f"{GATE_FAILED}{failed_gate}")], "gate", run_id, created_at, env)
        return version

    def promote(self, model: str, version: int, run_id: int | None = None, reason: str = "", action: str = "promote",
                env: str = PROD) -> bool:
        """Make `version` production; the previous production version becomes archived.
        `action` names the decision in the history (promote, approve). In another `env`:
        that environment's choice, by a person (`models promote --env dev`: a history row,
        action "promote", status "chosen", and an audit row); prod's production stays.
        False when `env` scores with it already (nothing is written)."""
        with _WRITES:
            target = self.get(model, version)
            if env != PROD:
                mine = self.chosen(model, env)
                if mine is not None and mine.version == target.version:
                    return False
                self._person_chose(model, target.version, env, action, reason or "promoted")
                return True
            if target.status == "production":
                return False
            self._switch(model, target.version, action, run_id, reason or "promoted")
            return True

    def choose(self, model: str, version: int, env: str, run_id: int | None, reason: str) -> None:
        """An environment other than prod scores with `version` from now on (its run published
        predictions of it): a history row, action "choose", status "chosen" (no reader of
        status 'production' mistakes it for prod's), with that `env`. The version's status,
        and so prod's production, stay as they are; `toolkit promote ENV prod` makes it
        production (environments.promote)."""
        with _WRITES:
            target = self.get(model, version)
            with self.engine.transaction():
                self._record(model, [(target.version, CHOSEN, reason)], "choose", run_id, now(), env)

    def chosen(self, model: str, env: str) -> Version | None:
        """The version `env` scores with: prod's production, or in another environment the
        one it chose last (None: it chose none, and scores with prod's production)."""
        if env == PROD:
            return self.production(model)
        choices = [c for c in self.history(model, env) if c.action in CHOICES]
        return self.get(model, choices[-1].version) if choices else None

    def hold(self, model: str, version: int, run_id: int | None, reason: str, env: str = PROD) -> None:
        """A version the policy chose was not promoted because the run's step failed with
        it: it stays a candidate, and the history and audit log say why (action "hold"),
        so that nothing reads as promoted and the next run knows to try it again."""
        self.ensure()
        with _WRITES:
            target = self.get(model, version)
            with self.engine.transaction():
                self._record(model, [(target.version, target.status, reason)], "hold", run_id, now(), env)
                audit(self.engine, "models hold", f"{model} version {version}" + ("" if env == PROD else f" in env {env}"), reason, run_id)

    def decline(self, model: str, version: int, run_id: int | None, reason: str, env: str = PROD,
                action: str = "challenge") -> None:
        """promote="challenger" kept production over a new version (it did not beat it, or
        production could not be compared): a history row, action "challenge", says so, and
        a later run scoring the same fingerprint does not promote it for being declared.
        promote="manual" left it waiting for approval: action "wait", to the same effect."""
        with _WRITES, self.engine.transaction():
            self._record(model, [(version, "candidate", reason)], action, run_id, now(), env)

    def approvable(self, model: str, version: int, env: str = PROD) -> Version:
        """The version, when a person may approve it in `env`: a candidate, not the one `env`
        scores with already; ProjectError (exit 2) otherwise. Checked before its gates, so
        that a production version is refused as such, not asked for --force first."""
        target = self.get(model, version)
        in_env = "" if env == PROD else f" --env {env}"
        if target.status != "candidate":
            raise ProjectError(f"{model} version {version} is {target.status}, not a candidate waiting for approval",
                               hint=f"toolkit models promote {model} {version}{in_env} makes any version "
                                    + ("production" if env == PROD else f"the one {env} scores with"))
        mine = self.chosen(model, env) if env != PROD else None
        if mine is not None and mine.version == target.version:
            raise ProjectError(f"{model} version {version} is already the version {env} scores with")
        return target

    def approve(self, model: str, version: int, reason: str = "toolkit models approve", env: str = PROD) -> None:
        """A person accepts a candidate that waits (promote="manual"): it becomes production,
        or, in another environment, that environment's choice (a history row, action
        "approve", status "chosen", with its `env`, and an audit row): its next runs score
        with it, prod's production stays as it is (`toolkit promote ENV prod` makes it so)."""
        with _WRITES:
            target = self.approvable(model, version, env)
            if env == PROD:
                self._switch(model, target.version, "approve", None, reason)
            else:
                self._person_chose(model, target.version, env, "approve", reason)

    def _person_chose(self, model: str, version: int, env: str, action: str, reason: str) -> None:
        """A person made `version` the one `env` (not prod) scores with (`models approve,
        promote, rollback --env`): a history row, status "chosen", and an audit row."""
        self.ensure()  # the audit log, in a state from an older toolkit
        with self.engine.transaction():
            self._record(model, [(version, CHOSEN, reason)], action, None, now(), env)
            audit(self.engine, f"models {action}", f"{model} version {version} in env {env}", reason)

    def rollback(self, model: str, run_id: int | None = None, env: str = PROD, reason: str | None = None) -> Version:
        """Make production again the version that was production before the current one,
        and return it. Rolling back twice goes back two promotions, like popping a stack.
        In another `env`: the version it chose before its current choice (its runs' and
        people's choices, `_stack`), recorded as a person's choice (action "rollback")."""
        with _WRITES:
            if env == PROD:
                self.get(model, None)  # the model exists and has a production version
            else:
                self.known(model)
            stack = self._stack(model, env)
            if len(stack) < 2:
                raise ProjectError(f"model '{model}' has no earlier {'production version' if env == PROD else 'version chosen in ' + env} "
                                   f"to roll back to", hint=self._no_earlier(model, stack, env))
            previous = stack[-2]
            why = (f"{reason}: " if reason else "") + f"rolled back from version {stack[-1]}"
            if env == PROD:
                self._switch(model, previous, "rollback", run_id, why)
            else:
                self._person_chose(model, previous, env, "rollback", why)
            return self.get(model, previous)

    def _no_earlier(self, model: str, stack: list[int], env: str) -> str | None:
        if env == PROD:
            return self._no_earlier_production(model, stack)
        production = self.production(model)
        prod = f"production version {production.version}" if production else "no version (prod has no production version)"
        if not stack:
            return f"{env} chose no version of its own: it scores with prod's {prod}"
        return (f"version {stack[-1]} is the only version {env} chose; without it, {env} would score with prod's {prod} "
                f"(toolkit models promote {model} VERSION --env {env} chooses another)")

    def _no_earlier_production(self, model: str, stack: list[int]) -> str | None:
        """Why prod's stack is down to one version: it never had another, or rollbacks
        went back from the others (a second rollback after v1 -> v2 -> rollback)."""
        if not stack:
            return None
        others = sorted({change.version for change in self.history(model, PROD) if change.status == "production"} - set(stack))
        if not others:
            return f"version {stack[-1]} has been its only production version"
        named = f"version{'s' if len(others) > 1 else ''} {', '.join(map(str, others))}"
        again = others[0] if len(others) == 1 else "VERSION"
        return (f"version {stack[-1]} was its first production version; rollbacks since went back from {named}: "
                f"toolkit models promote {model} {again} makes it production again")

    def _switch(self, model: str, version: int, action: str, run_id: int | None, reason: str) -> None:
        self.ensure()  # a state from an older toolkit gains the audit log before it is written
        current = self.production(model)
        # The archived version's line says why it was archived, not why the new one was chosen.
        archived = [(current.version, "archived", f"archived: version {version} became production ({action})")] if current else []
        changes = archived + [(version, "production", reason)]
        changed_at = now()
        with self.engine.transaction():
            for number, status, _ in changes:
                self.engine.execute(
                    exp.update(table(VERSIONS), {"status": exp.Literal.string(status)}, where=_where(model, number))
                )
            self._record(model, changes, action, run_id, changed_at)
            audit(self.engine, f"models {action}", f"{model} version {version}", reason, run_id)

    def _record(self, model, changes: list[tuple[int, str, str]], action, run_id, changed_at, env: str = PROD) -> None:
        """One history row per (version, new status, reason); prod's rows keep env NULL, as
        every row written before the column was (one way to read them: NULL is prod)."""
        seq = self._next(HISTORY, "seq", model)
        rows = [
            {"model": model, "version": version, "status": status, "action": action, "changed_at": changed_at,
             "run_id": run_id, "reason": reason, "seq": seq + offset, "actor": actor(), "env": None if env == PROD else env}
            for offset, (version, status, reason) in enumerate(changes)
        ]
        self.engine.insert_rows(table(HISTORY), rows)

    def _next(self, name: str, column: str, model: str) -> int:
        query = exp.select(exp.func("max", exp.column(column))).from_(table(name)).where(_where(model))
        return int(self.engine.fetch_rows(query)[0][0] or 0) + 1

    def _stack(self, model: str, env: str = PROD) -> list[int]:
        """Replay `env`'s decisions, oldest first: prod's production changes, another
        environment's choices (status "chosen"); a rollback pops. A run choosing again the
        version it scores with adds nothing (prod's production never repeats itself)."""
        status = "production" if env == PROD else CHOSEN
        stack: list[int] = []
        for change in self.history(model, env):
            if change.status != status:
                continue
            if change.action == "rollback" and stack:
                stack.pop()
            if not stack or stack[-1] != change.version:
                stack.append(change.version)
        return stack

    # -- reading --------------------------------------------------------------------------

    def versions(self, model: str | None = None) -> list[Version]:
        """Every version (of `model`, or of all models), by model and version number."""
        if not self.exists():
            return []
        query = exp.select(*self._columns()).from_(table(VERSIONS)).order_by("model", "version")
        if model is not None:
            query = query.where(_where(model))
        return [_version(row) for row in self.engine.fetch_rows(query)]

    def find(self, model: str, fingerprint: str) -> Version | None:
        """The newest version of `model` trained with this fingerprint, whatever its status."""
        if not self.exists():
            return None
        query = (
            exp.select(*self._columns()).from_(table(VERSIONS))
            .where(_where(model).and_(exp.column("fingerprint").eq(exp.Literal.string(fingerprint))))
            .order_by(exp.column("version").desc()).limit(1)
        )
        rows = self.engine.fetch_rows(query)
        return _version(rows[0]) if rows else None

    def _columns(self) -> list:
        """What to select: NULL for a column a reader's older, unmigrated store lacks."""
        if self._current:
            return list(_COLUMNS)
        present = {c.lower() for c in self.engine.columns(table(VERSIONS)) or {}}
        self._current = _LATER <= present  # once migrated, never un-migrated
        return [c if c not in _LATER or c in present else exp.null().as_(c) for c in _COLUMNS]

    def failed_gates(self, model: str | None = None) -> dict[tuple[str, int], str]:
        """(model, version) -> the gate it failed when it was trained (e.g. "roc_auc 0.53 < 0.6"),
        from the history rows with action "gate"; versions registered before those rows
        were written are absent."""
        if not self.exists():
            return {}
        where = exp.column("action").eq(exp.Literal.string("gate"))
        query = exp.select("model", "version", "reason").from_(table(HISTORY)).where(where if model is None else where.and_(_where(model)))
        return {(name, int(version)): reason.removeprefix(GATE_FAILED) for name, version, reason in self.engine.fetch_rows(query)}

    def production(self, model: str) -> Version | None:
        found = [v for v in self.versions(model) if v.status == "production"]
        return found[-1] if found else None

    def known(self, model: str) -> list[Version]:
        """The model's versions; ProjectError (exit 2) naming the registered ones when it has none."""
        versions = self.versions(model)
        if not versions:
            names = {v.model for v in self.versions()}
            hint = did_you_mean(model, names) or (
                f"registered models: {', '.join(sorted(names))}" if names else "no model is registered yet"
            )
            raise ProjectError(f"no model named '{model}' in the registry", hint=hint)
        return versions

    def get(self, model: str, version: int | None = None) -> Version:
        """One version; None means the production version. ProjectError (exit 2) when absent."""
        versions = self.known(model)
        if version is None:
            found = [v for v in versions if v.status == "production"]
            if not found:
                raise ProjectError(
                    f"model '{model}' has no production version",
                    hint=f"promote one: toolkit models promote {model} {versions[-1].version}",
                )
            return found[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        raise ProjectError(
            f"model '{model}' has no version {version}",
            hint=f"its versions: {', '.join(str(v.version) for v in versions)}",
        )

    def production_at(self, model: str, at: datetime) -> int | None:
        """The version that was prod's production at `at` (None: none was yet)."""
        made = [c.version for c in self.history(model, PROD) if c.status == "production" and c.changed_at <= at]
        return made[-1] if made else None

    def environments(self) -> set[str]:
        """The environments other than prod whose runs or people changed a model's history."""
        if not self.exists() or "env" not in {c.lower() for c in self.engine.columns(table(HISTORY)) or {}}:
            return set()
        query = exp.select("env").distinct().from_(table(HISTORY)).where(exp.column("env").is_(exp.null()).not_())
        return {row[0] for row in self.engine.fetch_rows(query)}

    def history(self, model: str, env: str | None = None) -> list[StatusChange]:
        """(version, status, action, changed_at, run_id, reason, actor, env) for every status
        change, oldest first; with `env`, only that environment's (prod: env NULL or 'prod')."""
        if not self.exists():
            return []
        # a reader may see a state not migrated yet (only writers migrate): no actor, no env column
        present = {c.lower() for c in self.engine.columns(table(HISTORY)) or {}}
        later = [name if name in present else exp.null() for name in ("actor", "env")]
        query = (
            exp.select("version", "status", "action", "changed_at", "run_id", "reason", *later)
            .from_(table(HISTORY)).where(_where(model)).order_by("seq")
        )
        changes = [StatusChange(*row) for row in self.engine.fetch_rows(query)]
        return changes if env is None else [c for c in changes if c.in_env == env]

    # -- loading --------------------------------------------------------------------------

    def load(self, model: str, version: int):
        """The fitted estimator of one version, after checking its sha256 and its types."""
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        self.get(model, version)
        query = exp.select("artifact", "artifact_sha256").from_(table(VERSIONS)).where(_where(model, version))
        data, expected = self.engine.fetch_rows(query)[0]
        data = bytes(data) if data is not None else b""
        actual = hashlib.sha256(data).hexdigest()
        where = f"model {model} version {version}"
        if actual != expected:
            raise StepFailed(
                f"{where}: artifact sha256 mismatch (expected {expected}, actual {actual}): "
                "the stored bytes changed after registration; refusing to load"
            )
        untrusted = untrusted_types(data, where, self.allowed)
        if untrusted:
            raise StepFailed(f"{where}: artifact contains types outside toolkit's allow-list, refusing to load: {', '.join(untrusted)}")
        try:
            return skops.io.loads(data, trusted=sorted(self.allowed))
        except UntrustedTypesFoundException as error:  # skops' own audit, a second line of defence
            raise StepFailed(f"{where}: artifact refused by skops' audit: {error}") from None
        except Exception as error:
            raise StepFailed(f"{where}: cannot load the artifact: {type(error).__name__}: {error}") from None


# -- artifact inspection --------------------------------------------------------------------


def _json(value: Any) -> exp.Expression:
    return exp.ParseJSON(this=exp.Literal.string(json.dumps(json_safe(value), sort_keys=True)))


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _where(model: str, version: int | None = None) -> exp.Expression:
    condition = exp.column("model").eq(exp.Literal.string(model))
    if version is not None:
        condition = condition.and_(exp.column("version").eq(exp.Literal.number(int(version))))
    return condition


def _version(row: tuple) -> Version:
    values = dict(zip(_COLUMNS, row))
    return Version(
        model=values["model"], version=int(values["version"]), status=values["status"],
        fingerprint=values["fingerprint"], candidate=values["candidate"], metrics=_loads(values["metrics"]),
        params=_loads(values["params"]), features=features_of(_loads(values["features"])),
        training_table=values["training_table"], run_id=values["run_id"], created_at=values["created_at"],
        sha256=values["artifact_sha256"], size=int(values["artifact_size"] or 0),
        python_version=values["python_version"], sklearn_version=values["sklearn_version"],
        numpy_version=values["numpy_version"], skops_version=values["skops_version"],
        scoring_sql=values.get("scoring_sql"), segments=_loads(values.get("segments")) or None,
        evaluation=_loads(values.get("evaluation")) or None,
    )
