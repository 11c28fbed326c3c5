"""The plan: what each selected step will do in a run, and why. Read-only.

    fingerprints (column-aware, fingerprint.py) vs. what the environment publishes
    -> per step: build (new) | rebuild | reuse | incremental, with a reason:
       new, SQL changed (+ a short semantic diff), config changed, upstream changed,
       source data changed, schedule due / not due, forced (--full-refresh)

`toolkit plan` prints it; `toolkit run` executes exactly it. Planning reads the
warehouse (published state, source fingerprints, which physical tables exist) and
never writes; it works before the state schema exists.

Environments: prod is the default. Another environment (`--env dev`) starts from
prod's published state: a step whose fingerprint equals prod's reuses prod's
physical table (and is published into the environment's own schemas,
`features__dev.x`), only what differs is built.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from toolkit import schedule, sql
from toolkit.compiler import CompiledProject, CompiledStep
from toolkit.errors import ProjectError
from toolkit.fingerprint import ALL, Fingerprint, step_fingerprint
from toolkit.state import PHYSICAL_SCHEMA, PROD, Published

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass
class Options:
    full_refresh: bool = False
    env: str = PROD
    ignore_schedule: bool = False
    start: datetime | None = None
    end: datetime | None = None
    now: datetime | None = None


@dataclass
class Planned:
    step: CompiledStep
    fingerprint: str
    action: str  # build | rebuild | reuse | incremental
    reason: str
    definition: str
    upstream_prints: dict[str, str] = field(default_factory=dict)  # upstream -> data fingerprint
    base_fingerprint: str = ""  # a model's data fingerprint before the production version is mixed in
    relation: exp.Table | None = None  # where the environment publishes it
    publish: bool = False  # a reuse that still publishes (into another environment)
    current: Published | None = None  # what it reuses or updates
    prints: Fingerprint | None = None
    backfill: list[tuple[datetime, datetime]] = field(default_factory=list)  # missing intervals to fill
    dialect: str = ""  # the project's, for the canonical SQL recorded when published

    def extra(self) -> dict:
        """What the published row records besides names: content, SQL, inputs, column prints, build time."""
        reuse = self.action == "reuse" and self.current is not None
        prints = self.prints
        return {
            "content": self.step.content_hash,
            "sql": self.current.sql if reuse else canonical_text(self.step, self.dialect),
            "inputs": prints.inputs if prints else {},
            "columns": {c: list(v) for c, v in prints.column_prints().items()} if prints else {},
            "built_at": self.current.built_at if reuse else None,
        }

    @property
    def builds(self) -> bool:
        return self.action in ("build", "rebuild")

    def row(self) -> dict:
        return {"step": self.step.name, "kind": self.step.kind, "materialized": self.step.materialized,
                "action": self.action, "reason": self.reason, "fingerprint": self.fingerprint[:12],
                "relation": self.relation.sql() if self.relation is not None else None}


@dataclass
class Plan:
    env: str
    steps: dict[str, Planned]
    current: dict[str, Published]  # step -> what the environment reads now (falling back to prod)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.steps.values():
            counts[p.action] = counts.get(p.action, 0) + 1
        return counts


def check_env(env: str) -> str:
    if not _ENV_NAME.match(env or ""):
        raise ProjectError(f"environment name '{env}' is not valid", hint="lower-case letters, digits and _, starting with a letter, e.g. dev")
    return env


def env_relation(relation: exp.Table, env: str) -> exp.Table:
    """features.x in prod; features__dev.x in dev."""
    if env == PROD:
        return relation.copy()
    return exp.table_(relation.name, db=f"{relation.db}__{env}")


def make_plan(compiled: CompiledProject, engine, state, selected: set[str], options: Options) -> Plan:
    env = check_env(options.env)
    at = options.now or schedule.now()
    prod = state.published(PROD)
    own = prod if env == PROD else state.published(env)
    current = {**prod, **own} if env != PROD else dict(prod)
    source_prints = {
        key: engine.table_fingerprint(exp.table_(exp.to_identifier(s.table), db=exp.to_identifier(s.schema)))
        for key, s in compiled.project.sources.items()
        if any(key in compiled.steps[n].sources for n in selected)
    }
    existing = set(engine.relations(PHYSICAL_SCHEMA))
    productions = _production_versions(compiled, engine, selected)
    prints: dict[str, Fingerprint] = {}
    steps: dict[str, Planned] = {}
    for name in compiled.dag.order():
        step = compiled.steps[name]
        recorded = current.get(name)
        if name not in selected:
            # Downstream of an unselected step reads what is published, so that is its fingerprint.
            prints[name] = _recorded(recorded) if recorded else step_fingerprint(compiled, step, prints, source_prints, engine.dialect)
            continue
        fp = step_fingerprint(compiled, step, prints, source_prints, engine.dialect)
        base = fp.data
        if name in productions:
            data = with_version(fp.data, productions[name])
            fp = Fingerprint(fp.definition, data, {ALL: (fp.definition, data)}, fp.inputs)
        planned = _decide(compiled, step, fp, recorded, existing, steps, options, at, state, env)
        planned.base_fingerprint = base
        planned.upstream_prints = {u: prints[u].data for u in step.upstream}
        planned.relation = env_relation(step.relation, env)
        planned.publish = planned.action == "reuse" and env != PROD and name not in own and recorded is not None
        planned.current = recorded
        planned.dialect = compiled.dialect
        prints[name] = planned.prints or fp
        planned.prints = prints[name]
        steps[name] = planned
        if planned.action != "reuse" and engine.dialect != compiled.dialect and step.tree is not None:
            _check_translatable(compiled, engine, step)  # within one dialect there is nothing to translate
    for name in steps:
        missing = [u for u in compiled.steps[name].upstream if u not in steps and u not in current]
        if missing:
            raise ProjectError(
                f"{name} reads {missing[0]}, which is not selected and has never been built",
                compiled.steps[name].file,
                hint=f"select it too: --select +{name}",
            )
    return Plan(env, steps, current)


def _recorded(published: Published) -> Fingerprint:
    columns = {c: tuple(v) for c, v in published.columns.items()}
    return Fingerprint(published.definition, published.fingerprint, columns, dict(published.inputs))


def _production_versions(compiled: CompiledProject, engine, selected: set[str]) -> dict[str, int]:
    """A model's predictions also depend on which version is in production, so that a
    `toolkit models promote` or `rollback` makes the next run score again."""
    models = [name for name in selected if compiled.steps[name].kind == "model"]
    if not models:
        return {}
    from toolkit.registry import Registry

    registry = Registry(engine)
    if not registry.exists():  # nothing registered yet (and planning never creates tables)
        return {name: 0 for name in models}
    versions = {}
    for name in models:
        production = registry.production(name)
        versions[name] = production.version if production else 0
    return versions


def with_version(data_fingerprint: str, version: int) -> str:
    return hashlib.sha256(f"{data_fingerprint}|production={version}".encode()).hexdigest()


def _decide(compiled, step, fp: Fingerprint, current: Published | None, existing: set[str], planned: dict[str, Planned],
            options: Options, at: datetime, state, env: str) -> Planned:
    def plan(action: str, reason: str, prints: Fingerprint | None = None) -> Planned:
        chosen = prints or fp
        return Planned(step, chosen.data, action, reason, chosen.definition, prints=prints)

    if current is None:
        return plan("build", "new")
    if options.full_refresh:
        return plan("rebuild", "forced (--full-refresh)")
    if current.physical_name not in existing:
        return plan("rebuild", "physical table missing")
    cron = step.config.get("cron")
    not_due = None
    if cron and not options.ignore_schedule and not schedule.due(cron, current.built_at, at):
        not_due = f"not due until {schedule.next_fire(cron, at):%Y-%m-%d %H:%M}"
    own = _own_change(compiled, step, current)
    if step.materialized == "incremental":
        if current.definition == fp.definition:
            if env != PROD and current.env != env:
                return plan("rebuild", f"incremental: {env} gets its own copy (prod's table is never updated from {env})")
            if options.start or options.end:
                return _backfill(step, fp, current, options, state, env, plan)
            if not_due:
                return plan("reuse", not_due, _recorded(current))
            return plan("incremental", "new rows" + ("; schedule due" if cron else ""))
        return plan("rebuild", own or _input_reason(current, fp))
    if current.fingerprint == fp.data:
        if step.materialized == "view":
            rebuilt = [u for u in step.upstream if u in planned and planned[u].action != "reuse"]
            if rebuilt:
                return plan("rebuild", f"upstream {rebuilt[0]} rebuilt (a view reads its upstream's table)")
        return plan("reuse", "unchanged" + (" (prod's table)" if env != PROD and current.env == PROD else ""))
    if own:
        return plan("rebuild", own)
    if not_due:
        return plan("reuse", f"{_input_reason(current, fp)}, {not_due}", _recorded(current))
    return plan("rebuild", _input_reason(current, fp) + ("; schedule due" if cron else ""))


def _own_change(compiled, step: CompiledStep, current: Published) -> str | None:
    """'SQL changed: <diff>' | 'config changed' | None (the step itself is as it was)."""
    if current.content is None or current.content == step.content_hash:
        return None
    text = canonical_sql(compiled, step)
    if text is None:
        return "changed" if step.kind == "model" else "file changed"
    if current.sql is not None and current.sql != text:
        summary = sql_diff(current.sql, text, compiled.dialect)
        return f"SQL changed: {summary}" if summary else "SQL changed"
    return "config changed"


def canonical_sql(compiled, step: CompiledStep) -> str | None:
    return canonical_text(step, compiled.dialect)


def canonical_text(step: CompiledStep, dialect: str) -> str | None:
    """The step's canonical SQL; a step loaded from the compile cache has it without a tree."""
    known = getattr(step, "canonical", None)
    if known is not None:
        return known
    return sql.canonical_text(step.tree, dialect) if step.tree is not None else None


def _input_reason(current: Published, fp: Fingerprint) -> str:
    before = current.inputs or {}
    changed = sorted(k for k, v in fp.inputs.items() if before.get(k) != v)
    sources = [k.split(":", 1)[1] for k in changed if k.startswith("source:")]
    upstream = [k for k in changed if not k.startswith("source:")]
    if not before:
        return "upstream changed"
    if upstream:
        more = f" and source data ({', '.join(sources)})" if sources else ""
        return f"upstream changed ({', '.join(upstream[:3])}{' ...' if len(upstream) > 3 else ''}){more}"
    if sources:
        return f"source data changed ({', '.join(sources)})"
    return "definition changed"


def _backfill(step, fp, current: Published, options: Options, state, env: str, plan) -> Planned:
    if "time_column" not in step.config:
        return plan("reuse", "--start/--end: only incremental steps with a time_column backfill")
    start = options.start or datetime.min
    end = options.end or schedule.now()
    held = state.intervals(env if current.env == env else current.env, step.name, current.physical_name)
    missing = missing_intervals(start, end, held)
    if not missing:
        return plan("reuse", f"holds {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} already")
    planned = plan("incremental", f"backfill {len(missing)} missing interval(s): " + ", ".join(
        f"{a:%Y-%m-%d %H:%M}..{b:%Y-%m-%d %H:%M}" for a, b in missing[:3]) + (" ..." if len(missing) > 3 else ""))
    planned.backfill = missing
    return planned


def missing_intervals(start: datetime, end: datetime, held: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """[start, end) minus the union of the held [a, b) intervals."""
    missing, cursor = [], start
    for a, b in sorted(held):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            missing.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        missing.append((cursor, end))
    return missing


def _check_translatable(compiled: CompiledProject, engine, step: CompiledStep) -> None:
    from toolkit.portability import check_step

    check_step(compiled, engine, step)


# -- the semantic diff ------------------------------------------------------------------

_CLAUSES = {"where": "WHERE", "group": "GROUP BY", "having": "HAVING", "joins": "JOIN", "from": "FROM",
            "order": "ORDER BY", "limit": "LIMIT", "with": "WITH", "qualify": "QUALIFY", "distinct": "DISTINCT"}


def sql_diff(old_text: str, new_text: str, dialect: str, width: int = 60) -> str:
    """A line summarising how two canonical SELECTs differ: `+ column discount`,
    `- column x`, `~ column y`, `~ WHERE amount > 10`. Uses sqlglot.diff on the
    trees to find the clauses that changed."""
    import sqlglot
    from sqlglot import diff

    try:
        old, new = sqlglot.parse_one(old_text, read=dialect), sqlglot.parse_one(new_text, read=dialect)
    except Exception:
        return ""
    parts: list[str] = []
    if isinstance(old, exp.Select) and isinstance(new, exp.Select):
        before = {p.alias_or_name: p.sql(dialect=dialect) for p in old.expressions}
        after = {p.alias_or_name: p.sql(dialect=dialect) for p in new.expressions}
        parts += [f"+ column {c}" for c in after if c not in before]
        parts += [f"- column {c}" for c in before if c not in after]
        parts += [f"~ column {c}" for c in after if c in before and before[c] != after[c]]
        clauses: list[str] = []
        try:
            edits = diff(old, new, delta_only=True)
        except Exception:
            edits = []
        for edit in edits:
            for node in (getattr(edit, "expression", None), getattr(edit, "source", None), getattr(edit, "target", None)):
                key = _clause_of(node, old, new)
                if key and key not in clauses:
                    clauses.append(key)
        for key in clauses:
            text = new.args.get(key)
            if not text:
                parts.append(f"- {_CLAUSES.get(key, key.upper())}")
                continue
            rendered = " ".join(t.sql(dialect=dialect) for t in text) if isinstance(text, list) else text.sql(dialect=dialect)
            rendered = rendered.removeprefix(_CLAUSES.get(key, "") + " ").strip()
            if len(rendered) > width:
                rendered = rendered[: width - 3] + "..."
            parts.append(f"~ {_CLAUSES.get(key, key.upper())} {rendered}")
    elif old_text != new_text:
        parts.append("~ query")
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def _clause_of(node, *roots) -> str | None:
    """The top-level clause of a SELECT (where, group, joins ...) that `node` sits in; None for the select list."""
    if not isinstance(node, exp.Expression):
        return None
    while node.parent is not None and not any(node.parent is r for r in roots):
        node = node.parent
    if node.parent is None:
        return None
    key = node.arg_key
    return None if key == "expressions" else key
