"""Environments over shared physical tables: promote, rollback, and what may be dropped.

Every environment publishes views (`features.x` in prod, `features__dev.x` in dev)
over physical tables in `toolkit_physical`, which environments share. A physical
relation is live while any environment publishes it, any saved state (for
rollback) lists it, or a live view reads it.

    promote dev prod   prod's views point at dev's physical tables and prod's rows
                       become dev's, in one transaction; prod's previous state is
                       saved (toolkit.published_history) first. Nothing is recomputed.
                       A promote that would change nothing (prod reads dev's tables and
                       scores with its versions already) saves no state: a rollback
                       then still undoes the last promote that changed something.
                       prod's steps that dev's project deleted (toolkit.deleted_steps,
                       recorded by dev's runs) are unpublished from prod in it.
                       A model's production version (toolkit.model_versions) becomes
                       the one dev's published predictions were scored with, and
                       predictions.<model>_history gains the rows of dev's runs it
                       lacks, in the same transaction (the registry: where the state
                       lives with the warehouse). The model part, versions and refusals:
                       toolkit/modelpromote.py.
    rollback prod      restores the newest saved state of prod, in one transaction (tables
                       prod's runs built since are replaced too: the result names them); a
                       model's production version becomes the one its restored
                       predictions were scored with (the rows a promote appended to
                       <model>_history stay: they were served).
    gc                 forgets saved states older than the retention period and drops
                       physical relations that nothing live reads and that are older
                       than it; a run drops only relations nothing live reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlglot import exp

from toolkit import fingerprint, hooks, materialize, modelpromote, publishguard, viewmeta
from toolkit.engines.base import Swap
from toolkit.errors import ProjectError, ToolkitError, engine_message
from toolkit.planning import check_env, env_relation
from toolkit.state import PHYSICAL_SCHEMA, PROD, Published, State, audit, now

_RUN_ID = re.compile(r"__r(\d+)(?:__|$)")
_RETENTION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def live_relations(state: State, expiring_before: datetime | None = None) -> set[str]:
    """Physical names something live reads: every environment, every saved state (but
    those saved before `expiring_before`), and (transitively) the relations their views read."""
    reads = state.relation_reads()
    live: set[str] = set()
    stack = list(state.live_physical(expiring_before))
    while stack:
        name = stack.pop()
        if name not in live:
            live.add(name)
            stack.extend(reads.get(name, ()))
    return live


DROPS_PER_COMMIT = 200


def drop_unreferenced(engine, state: State, relations: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Drop physical relations that nothing live reads (orphans of failed or killed runs,
    tables replaced by this run that no environment or saved state still needs): (the
    dropped, {kept: why}) where something outside toolkit still reads one (drop_physical).
    `relations`: engine.relations(PHYSICAL_SCHEMA) as read already (session.Session.relations), if still so."""
    live = live_relations(state)
    relations = engine.relations(PHYSICAL_SCHEMA) if relations is None else relations
    doomed = [(name, kind) for name, kind in sorted(relations.items(), key=lambda item: item[1] != "view") if name not in live]
    blocked = drop_physical(engine, doomed)
    state.forget_relations(sorted(set(state.relation_reads()) - live - set(blocked)))
    return [name for name, _ in doomed if name not in blocked], blocked


def blocked_drops(engine, names: list[str]) -> dict[str, str]:
    """{name: why} of these physical relations that a view staying behind reads (the engine's
    views_reading, where it can tell beforehand): drop_physical keeps them."""
    views_reading = getattr(engine, "views_reading", None)
    return views_reading(PHYSICAL_SCHEMA, names) if views_reading and names else {}


def drop_physical(engine, relations: list[tuple[str, str]]) -> dict[str, str]:
    """Drop these (name, kind) physical relations; those something outside toolkit still
    reads are kept: {name: the engine's reason}. On PostgreSQL a view a user made on one, or
    a published view left in a renamed schema, blocks its DROP, and that made every later
    run end in an internal error after publishing, with the run left unrecorded."""
    # DuckDB drops a table under a view that reads it: the views that stay behind are found
    # first (one query, only when something is to be dropped) and what they read is kept.
    blocked = blocked_drops(engine, [name for name, _ in relations])
    relations = [(name, kind) for name, kind in relations if name not in blocked]
    # A few hundred drops commit together (a full refresh of 500 steps: 0.22 -> 0.09 s of
    # DuckDB's commits); not all at once, which would hold a lock per table on PostgreSQL.
    for start in range(0, len(relations), DROPS_PER_COMMIT):
        batch = relations[start:start + DROPS_PER_COMMIT]
        try:
            with engine.transaction():
                for name, kind in batch:
                    engine.drop(exp.table_(name, db=PHYSICAL_SCHEMA), kind.upper())
        except Exception:  # noqa: BLE001 (one of them is blocked: find which, one statement each)
            for name, kind in batch:
                try:
                    engine.drop(exp.table_(name, db=PHYSICAL_SCHEMA), kind.upper())
                except Exception as error:  # noqa: BLE001
                    blocked[name] = str(error).strip().splitlines()[0]
    return blocked


def _prod_relation(relation: str, env: str) -> exp.Table:
    table = exp.to_table(relation)
    suffix = f"__{env}"
    db = table.db[: -len(suffix)] if env != PROD and table.db.endswith(suffix) else table.db
    return exp.table_(table.name, db=db)


def _require(state: State, env: str) -> dict[str, Published]:
    check_env(env)
    rows = state.published(env) if state.exists() else {}
    last = state.last_run(env) if not rows else None
    if last is not None:  # it ran, and none of its steps was published: not "nothing has been run"
        how = {"success": "succeeded", "failed": "failed"}.get(last[1], f"ended {last[1]}")
        raise ProjectError(f"environment '{env}' has nothing published on this target: its runs published no step "
                           f"(the last, run {last[0]}, {how})", hint=f"make its failing steps pass, then toolkit run --env {env}")
    if not rows:
        known = state.environments() if state.exists() else []
        hint = f"environments: {', '.join(known)}" if known else "nothing has been run on this target yet"
        raise ProjectError(f"environment '{env}' does not exist on this target", hint=hint)
    return rows


def _commit(engine, state: State, swaps: list[Swap], drops: list[exp.Table], record, failed: str) -> None:
    """Re-point and drop views and record it, all or nothing (materialize.commit); what the
    warehouse refuses (PostgreSQL: a view of someone's on a view to drop) is the message."""
    try:
        materialize.commit(engine, state, swaps, drops, record=record)
    except ToolkitError:
        raise
    except Exception as error:
        raise ProjectError(f"{failed}: {engine_message(error)}; nothing was changed") from error


def _create_schemas(engine, swaps: list[Swap]) -> None:
    """The schemas the swaps publish in: a new environment's, or one emptied since (every step
    moved away) and dropped. Once nothing can refuse any more: a refused promote or rollback
    leaves no empty schema behind."""
    for schema in sorted({swap.relation.db for swap in swaps if swap.relation.db}):
        engine.create_schema(schema)


def _swap(relation: exp.Table, physical_name: str, hooks_of, step: str) -> Swap:
    """A published name re-pointed outside a run: the step's post_hooks run again, since
    re-creating a view drops its grants and comments (`hooks_of(step)`: toolkit/hooks.py)."""
    physical = exp.table_(physical_name, db=PHYSICAL_SCHEMA)
    step_hooks = hooks_of(step)
    return Swap(relation, physical, (lambda engine: hooks.run(engine, step_hooks, relation, physical)) if step_hooks else None)


@dataclass
class Promoted:
    steps: list[str]  # the source's steps the destination now reads the source's tables of (re-pointed)
    removed: list[str]  # the destination's steps the source's project deleted: unpublished there
    models: dict[str, int] = field(default_factory=dict)  # model -> the version its promoted predictions were scored with
    was: dict[str, int | None] = field(default_factory=dict)  # model -> the version the destination scored with before
    unchanged: list[str] = field(default_factory=list)  # the source's steps the destination read the tables of already
    left: dict[str, str] = field(default_factory=dict)  # "schema.name" -> kind: not dropped, the user replaced toolkit's view there

    @property
    def nothing(self) -> bool:
        """Nothing changed (the destination was the source's already): no state was saved."""
        return not (self.steps or self.removed or any(self.was.get(m) != v for m, v in self.models.items()))


def _built_on_newer_sources(destination: Published, source: Published) -> bool:
    """Whether the destination's table of a step was built after the source's from other
    data: of a source it reads, or, built by the same definition, of a step it reads. Not a
    new table alone: a full refresh, or an incremental update that found no rows, holds the
    same rows."""
    if destination.run_id <= source.run_id or destination.physical_name == source.physical_name:
        return False
    return any(destination.inputs[key] != print_ for key, print_ in source.inputs.items()
               if key in destination.inputs and key != fingerprint.PARTIAL and (key.startswith("source:") or _reads_alike(destination, source)))


def _filled_since(state: State, destination: Published, source: Published) -> bool:
    """Whether the destination's incremental table, written after the source's, holds an
    interval the source's does not: a backfill of late rows there (the source's table, a
    copy of the destination's or its own build, lacks them) that the promote would drop."""
    if destination.materialized != "incremental" or destination.run_id <= source.run_id \
            or destination.physical_name == source.physical_name:
        return False
    theirs = state.intervals(source.step, source.physical_name)
    return any(not any(start >= s and end <= e for s, e in theirs) for start, end in state.intervals(destination.step, destination.physical_name))


def _reads_alike(destination: Published, source: Published) -> bool:
    """Whether the two tables of a step read the same columns of the same upstream code: the
    definition print covers the step's code and the definitions of the upstream columns it
    reads (fingerprint.py), so the data prints of its inputs compare. The source environment
    may have changed a step upstream (its readers differ by design): then only sources do.
    Upstream data is what a step was built from transitively (an upstream print covers its
    own inputs), however the source got it: a step it did not select read the destination's
    table, which the destination may have rebuilt from newer data since."""
    return bool(destination.definition) and destination.definition == source.definition


@dataclass(frozen=True)
class StaleUpstream:
    """A step of the source built from an upstream's older data than the destination keeps:
    the destination's `run` rebuilt `upstream` since, and does not take the source's. With
    `why`: whether it was cannot be told (refused all the same: a promote never guesses)."""
    step: str
    upstream: str
    run: int
    why: str = ""
    ephemeral: bool = False  # `upstream` is inlined into `step`: compared through it, to what it reads


_SUBSETS = 10  # an upstream of up to this many columns has every set of them tried (1024 prints, ~0.07 s)


def _stale_upstream(rows: dict[str, Published], current: dict[str, Published], project, semantics: str = "") -> list[StaleUpstream]:
    """The source's steps the promote re-points whose upstream the destination keeps (the
    source does not publish it) and rebuilt from other data after the source built the step:
    a step the source ran alone (--select) read the destination's upstream tables as they
    were then. What a step read of an upstream (its recorded input print) is of the columns
    it reads, which its run recorded (Published.read_columns): that print of the destination's
    table is made of the same columns' prints, whether the project compiles or the step was
    edited since. A row from before state version 9 lacks them: the project (`project`,
    compiled: the step's lineage) computes the print when it has the step's code as the
    source built it; else the recorded print is matched against the destination's table's
    column prints themselves (_read_of_recorded). An ephemeral upstream is not published:
    it is compared through, by its print made anew from what it reads (_ephemeral_print).
    Upstream prints are transitive: the direct upstream steps say it all."""
    stale = []
    ran = max((row.run_id for row in current.values()), default=0)  # the destination's newest table
    for name, row in sorted(rows.items()):
        mine = current.get(name)
        if mine is not None and mine.physical_name == row.physical_name:
            continue  # the promote leaves the destination's table as it is
        step = project.steps.get(name) if project is not None else None
        known = step if step is not None and step.content_hash == row.content else None
        for upstream, read in sorted(row.inputs.items()):
            if upstream.startswith("source:") or upstream in rows or upstream == fingerprint.PARTIAL:
                continue  # a source (_built_on_newer_sources), or an upstream the promote brings along
            kept = current.get(upstream)
            if kept is not None:
                if kept.run_id > row.run_id:
                    stale += _compare_kept(name, upstream, read, kept, project, known, row.read_columns)
            elif ran > row.run_id:  # neither publishes it: an ephemeral step, inlined into `name`
                stale += _compare_ephemeral(name, upstream, read, rows, current, project, known, semantics, row.run_id)
    return stale


def _compare_kept(name: str, upstream: str, read: str, kept: Published, project, known, recorded: dict | None) -> list[StaleUpstream]:
    """Whether the step `name` read (`read`, its recorded print) the destination's `kept` table of
    `upstream`: by the columns its run recorded it read (`recorded`: Published.read_columns),
    else those its code (`known`) reads, else any set of the table's columns (an older row)."""
    if recorded is not None and upstream in recorded:
        columns = recorded[upstream]
        same = fingerprint.print_of_read(upstream, None if columns is None else frozenset(columns), _recorded_print(kept)) == read
    elif known is not None and upstream in known.upstream:
        same = _read_print(project, known, upstream, kept) == read
    else:
        same = _read_of_recorded(upstream, read, kept)
    if same:
        return []
    why = "" if same is False else (f"what {name} reads of {upstream} is unknown: "
                                    + ("the project does not compile" if project is None else f"{name}'s code changed since it was built")
                                    + f" and {upstream} has more than {_SUBSETS} columns")
    return [StaleUpstream(name, upstream, kept.run_id, why)]


def _compare_ephemeral(name: str, upstream: str, read: str, rows, current, project, known, semantics: str, built: int) -> list[StaleUpstream]:
    """`upstream` is inlined into `name` (built by run `built`): unchanged when the destination
    rebuilt nothing it reads since; else its print made from what the destination (or the
    promote) has of its inputs now, and the project's code of it, is what `name` read of it
    when nothing changed since."""
    ran = max((row.run_id for row in current.values()), default=0)
    if project is None:
        return [StaleUpstream(name, upstream, ran, f"the project does not compile, so what it read of {upstream}, "
                                                   "which no environment publishes, is unknown")]
    rebuilt = _rebuilt_under(project, upstream, current, built)
    if rebuilt is None:
        return []  # nothing it reads was rebuilt in the destination since `name` was built
    if known is None:
        return [StaleUpstream(name, upstream, rebuilt, f"{name}'s code changed since it was built, so what it read of "
                                                       f"{upstream}, which no environment publishes, is unknown")]
    made = _ephemeral_print(project, upstream, rows, current, semantics, set())
    if made is None:
        return [StaleUpstream(name, upstream, rebuilt, f"what the ephemeral {upstream} reads is not published", ephemeral=True)]
    if fingerprint.read_print(project, known, upstream, made) == read:
        return []
    return [StaleUpstream(name, upstream, rebuilt, ephemeral=True)]


def _rebuilt_under(project, name: str, current: dict[str, Published], built: int) -> int | None:
    """The newest destination run after `built` that rebuilt a table ephemeral `name` reads
    (through other ephemerals), read one of its sources, or read it; None when there is none."""
    tables, sources, todo, seen = set(), set(), [name], set()
    while todo:
        step = project.steps.get(todo.pop())
        if step is None or step.name in seen:
            continue
        seen.add(step.name)
        sources.update(f"source:{source}" for source in step.sources)
        tables.update(upstream for upstream in step.upstream if upstream in current)
        todo += [upstream for upstream in step.upstream if upstream not in current]  # ephemeral: read through
    runs = [current[table].run_id for table in tables if current[table].run_id > built]
    # a table read from its sources, or built through it (its code may have changed since)
    runs += [row.run_id for row in current.values() if row.run_id > built and (sources | {name}) & set(row.inputs)]
    return max(runs, default=None)


def _ephemeral_print(project, name: str, rows, current, semantics: str, seen: set) -> fingerprint.Fingerprint | None:
    """The print of ephemeral step `name` over the tables the destination will read after
    the promote (the source's where it publishes them), or None when one is unknown."""
    step = project.steps.get(name)
    if step is None or step.materialized != "ephemeral" or name in seen:
        return None
    prints = {}
    for upstream in step.upstream:
        published = rows.get(upstream) or current.get(upstream)
        made = _recorded_print(published) if published is not None else _ephemeral_print(project, upstream, rows, current, semantics, seen | {name})
        if made is None:
            return None
        prints[upstream] = made
    sources = _source_prints(current)
    if any(source not in sources for source in step.sources):
        return None
    return fingerprint.step_fingerprint(project, step, prints, sources, semantics or project.dialect)


def _source_prints(current: dict[str, Published]) -> dict[str, str]:
    """source -> its print as the destination's newest run that read it found it."""
    found: dict[str, tuple[int, str]] = {}
    for row in current.values():
        for key, value in row.inputs.items():
            if key.startswith("source:") and row.run_id >= found.get(key[7:], (-1, ""))[0]:
                found[key[7:]] = (row.run_id, value)
    return {source: value for source, (_, value) in found.items()}


def _recorded_print(kept: Published) -> fingerprint.Fingerprint:
    columns = {column: tuple(prints) for column, prints in kept.columns.items()}
    return fingerprint.Fingerprint(kept.definition, kept.fingerprint, columns, dict(kept.inputs))


def _read_print(project, step, upstream: str, kept: Published) -> str:
    """What `step` reads of the `kept` table of `upstream`, as its recorded inputs print it."""
    return fingerprint.read_print(project, step, upstream, _recorded_print(kept))


def _read_of_recorded(upstream: str, read: str, kept: Published) -> bool | None:
    """Whether `read`, a step's recorded print of what it read of `upstream`, is of the `kept`
    table's data, without knowing which columns the step reads: the print names the columns
    and their prints, so any set of `kept`'s columns printing the same says the step read
    that data. None: not every set was tried (a wide table) and none matched."""
    prints, exhaustive = _prints_of_reads(upstream, kept.physical_name, kept)
    return True if read in prints else (False if exhaustive else None)


@lru_cache(maxsize=256)
def _prints_of_reads_cached(upstream: str, physical: str, definition: str, data: str, columns: str) -> tuple[frozenset, bool]:
    recorded = fingerprint.Fingerprint(definition, data, {c: tuple(p) for c, p in json.loads(columns).items()})
    names = sorted(c for c in recorded.column_prints() if c != fingerprint.ALL)
    exhaustive = fingerprint.ALL in recorded.column_prints() or len(names) <= _SUBSETS
    tried = [None, frozenset()] + ([frozenset(c for i, c in enumerate(names) if mask >> i & 1) for mask in range(1, 1 << len(names))]
                                   if exhaustive and names else [])
    return frozenset(fingerprint.print_of_read(upstream, columns_read, recorded) for columns_read in tried), exhaustive


def _prints_of_reads(upstream: str, physical: str, kept: Published) -> tuple[frozenset, bool]:
    """Every print a reader of `kept` records, whatever columns it reads (made once per table:
    many steps read one upstream); and whether that is every set of its columns."""
    return _prints_of_reads_cached(upstream, physical, kept.definition, kept.fingerprint, json.dumps(kept.columns, sort_keys=True))


def _stale_clause(s: StaleUpstream, source: str, destination: str) -> str:
    if s.ephemeral and not s.why:
        return (f"the ephemeral {s.upstream} (inlined into {source}'s {s.step}) changed since {s.step} was built: "
                f"its code, or what it reads in {destination} (run {s.run})")
    if s.why:
        return f"cannot tell whether {source}'s {s.step} was built from {destination}'s {s.upstream} (run {s.run}): {s.why}"
    return f"run {s.run} rebuilt {s.upstream}, which {source}'s {s.step} was built from before"


def _refuse(newer: list[tuple[int, str]], stale: list[StaleUpstream], rescored: list, source: str, destination: str,
            filled: set[str] = frozenset()) -> None:
    """A promote that would publish older tables (`newer`: (run, step) the destination rebuilt
    from newer source data, or `filled` an interval of by a backfill; `stale`: steps built from
    older data of an upstream the destination keeps) or predictions (`rescored`:
    modelpromote.Rescored) of the source."""
    names = ", ".join(name for _, name in newer[:5]) + (", ..." if len(newer) > 5 else "")
    clauses = ([f"run {newer[-1][0]} rebuilt {names}"] if newer else [])
    clauses += [_stale_clause(s, source, destination) for s in stale[:5]]
    clauses += modelpromote.refusal(rescored, source, destination)
    what = " and ".join(kind for kind, found in (("tables", newer or stale), ("predictions", rescored)) if found)
    hint = _refusal_hint(newer, stale, bool(rescored), source, destination, filled)
    unsure = not newer and not rescored and all(s.why for s in stale)  # only "cannot tell": no older data known
    raise ProjectError(f"{destination} changed since {source} was last run: {'; '.join(clauses)}, and promoting "
                       f"{'could' if unsure else 'would'} publish {source}'s older {what} there; nothing was changed",
                       hint=f"{hint}, or promote --force")


def _refusal_hint(newer: list[tuple[int, str]], stale: list[StaleUpstream], rescored: bool, source: str, destination: str,
                  filled: set[str]) -> str:
    """What brings the source up to date. An incremental table the destination backfilled
    since (`filled`, a backfill of late rows) is not: the source's plain run only appends
    new rows to its own copy, and the interval stays missing; a full refresh reads them all.
    Promoting the source's copy would drop them."""
    def them(names) -> str:
        return "them" if len(names) > 1 else "it"

    hints = []
    if filled:
        hints.append(f"toolkit run --env {source} --full-refresh --select {' '.join(sorted(filled))} rebuilds {them(filled)} "
                     f"with the intervals {destination}'s table filled since")
    if rescored or any(name not in filled for _, name in newer):
        hints.append(f"toolkit run --env {source} first to bring it up to date")
    rebuild = sorted({s.step for s in stale})
    if rebuild and not newer:
        hints.append(f"toolkit run --env {source} --select {' '.join(rebuild)} rebuilds {them(rebuild)} on {destination}'s current data")
    return "; ".join(hints)


def promote(engine, state: State, source: str, destination: str = PROD, hooks_of=lambda step: (), force: bool = False,
            project=None) -> Promoted:
    """Make `source`'s published state `destination`'s: its steps, and without the steps
    its project deleted (a step it merely did not select keeps the destination's table).
    Refused (unless `force`) when the destination rebuilt one of the source's steps from
    other source data since: the promote would put older data back (a source that reused
    the destination's table of an unchanged step, and the destination ran on new data);
    or rebuilt from newer data an upstream step the source did not publish and built one of
    its steps from before (`project`: the compiled project, for what each step reads)."""
    check_env(source)
    check_env(destination)
    if source == destination:
        raise ProjectError(f"cannot promote '{source}' into itself", hint="promote into another environment, e.g. toolkit promote dev prod")
    rows = _require(state, source)
    current = state.published(destination)
    filled = {name for name, row in rows.items() if name in current and _filled_since(state, current[name], row)}
    newer = sorted((current[name].run_id, name) for name, row in rows.items()
                   if name in current and (name in filled or _built_on_newer_sources(current[name], row)))
    stale = [found for found in _stale_upstream(rows, current, project, getattr(engine, 'semantics', '')) if found.step not in {name for _, name in newer}]
    rescored = modelpromote.rescored_since(engine, current, rows)
    if (newer or stale or rescored) and not force:
        _refuse(newer, stale, rescored, source, destination, filled)
    existing = engine.relations(PHYSICAL_SCHEMA)
    missing = sorted((row.physical_name, name) for name, row in rows.items() if row.physical_name not in existing)
    if missing:
        physical, step = missing[0]
        raise ProjectError(f"cannot promote {source}: physical table {physical} of step {step} is missing (dropped outside toolkit); "
                           f"nothing was changed", hint=f"toolkit run --env {source} builds it again")
    state.ensure()
    gone = state.deleted_steps(source)
    removed = sorted(name for name in current if name in gone)
    merged, swaps, repointed = {name: row for name, row in current.items() if name not in gone}, [], []
    for name, row in rows.items():
        relation = env_relation(_prod_relation(row.relation, source), destination)
        mine = current.get(name)
        same = mine is not None and (mine.physical_name, mine.relation) == (row.physical_name, relation.sql())
        if not same:  # a view already on the source's table is left alone (its grants too)
            repointed.append(name)
            swap = _swap(relation, row.physical_name, hooks_of, name)
            swaps.append(modelpromote.with_history(swap) if row.materialized == "model" else swap)
        merged[name] = Published(**{**row.__dict__, "env": destination, "relation": relation.sql(),
                                    "published_at": mine.published_at if same else now()})
    fold = publishguard.fold_for(engine)
    anew = {name for name in rows if current.get(name) is None or fold(current[name].relation) != fold(merged[name].relation)}
    # A name the destination takes anew may be someone else's; one it keeps (re-pointed or
    # left as it is: recorded as the source's step all the same) may be the user's since.
    publishguard.check_promote(
        engine, state, [(name, exp.to_table(merged[name].relation), rows[name].materialized) for name in sorted(anew)], source, destination,
        [(name, exp.to_table(merged[name].relation), current[name].physical_name or None) for name in sorted(rows) if name not in anew])
    # Views the destination publishes under a name the promote does not keep: its removed
    # steps', and those of steps published under another name now (a changed alias). One
    # the user replaced since is theirs: left as it is (Promoted.left).
    kept = {row.relation for row in merged.values()}
    drops = [exp.to_table(row.relation) for row in current.values() if row.relation and row.relation not in kept]
    reads = publishguard.recorded_reads(current, fold)
    left = publishguard.foreign(engine, [(drop, reads.get(fold(f"{drop.db}.{drop.name}"))) for drop in drops]) if drops else {}
    drops = [drop for drop in drops if fold(f"{drop.db}.{drop.name}") not in {fold(name) for name in left}]
    recorded = state.deleted_steps(destination, recorded=True)
    deleted = (recorded - set(rows)) | gone
    registry = modelpromote.registry_of(state)
    versions, was = modelpromote.choices(registry, engine, rows, destination)
    promoted = Promoted(sorted(repointed), removed, versions, was, sorted(set(rows) - set(repointed)), left)
    if promoted.nothing and not drops:
        # The destination is the source's already: no state to save (a rollback would undo nothing).
        if deleted != recorded:
            _commit(engine, state, [], [], lambda: state.replace_deleted(destination, deleted), f"cannot promote {source} -> {destination}")
        return promoted

    # the views' comments and grants as they are, before the hooks run on them: rollback's to put back
    saved_meta = viewmeta.snapshot(engine, {name: exp.to_table(row.relation) for name, row in current.items() if row.relation})

    def record() -> None:
        state.save_history(destination, f"before promote {source} -> {destination}", saved_meta)
        state.replace_published(destination, merged)
        state.replace_deleted(destination, deleted)
        audit(state.engine, "promote", f"environment {destination}", f"now {source}'s state: {len(repointed)} step(s) re-pointed, "
              f"{len(promoted.unchanged)} already {source}'s" + (f", {len(removed)} removed ({', '.join(removed)})" if removed else ""))
        modelpromote.settle(registry, versions, destination, f"promoted with environment {source} (toolkit promote)", "promote")

    _create_schemas(engine, swaps)
    _commit(engine, state, swaps, drops, record, f"cannot promote {source} -> {destination}")
    return promoted


@dataclass
class RolledBack:
    version: int  # the saved state restored
    restored: list[str]  # steps back in the environment (a promote had removed them, say)
    removed: list[str]  # steps published since that the saved state did not have
    repointed: list[str]  # steps in both, now published from their saved table or name
    newer: dict[str, int] = field(default_factory=dict)  # step -> the run that published the table it replaced, built since the save
    left: dict[str, str] = field(default_factory=dict)  # "schema.name" -> kind: not dropped, the user replaced toolkit's view there
    unrestored: list[str] = field(default_factory=list)  # what of the views' comments and grants it could not put back (viewmeta.py)

    @property
    def changed(self) -> list[str]:
        return sorted(self.restored + self.removed + self.repointed)


def rollback(engine, state: State, env: str = PROD, hooks_of=lambda step: ()) -> RolledBack:
    """Restore `env`'s newest saved state: the version restored and the steps it changed."""
    check_env(env)
    history = state.history(env) if state.exists() else []
    if not history:
        _require(state, env)  # a misspelt environment: say so, and name the known ones
        raise ProjectError(f"environment '{env}' has no earlier state to roll back to", hint="a promote saves one")
    state.ensure()
    version = history[0][0]
    saved = state.history_rows(env, version)
    current = state.published(env)
    existing = engine.relations(PHYSICAL_SCHEMA)
    missing = sorted(p.physical_name for p in saved.values() if p.physical_name not in existing)
    if missing:
        raise ProjectError(f"cannot roll back {env}: physical table {missing[0]} was dropped (gc)")
    unrestored: list[str] = []
    swaps = _restoring_swaps(engine, saved, state.history_meta(env, version), hooks_of, unrestored)
    # A name toolkit published that the user replaced since is theirs: refused, not re-pointed;
    # one the rollback would drop is left as it is (RolledBack.left).
    publishguard.check_rollback(engine, {name: swap.relation for name, swap in zip(saved, swaps)}, env, current)
    # published since, or under another name since (a changed alias)
    restored = {row.relation for row in saved.values()}
    drops = [exp.to_table(current[name].relation) for name in sorted(current) if current[name].relation and current[name].relation not in restored]
    fold = publishguard.fold_for(engine)
    reads = publishguard.recorded_reads(current, fold)
    left = publishguard.foreign(engine, [(drop, reads.get(fold(f"{drop.db}.{drop.name}"))) for drop in drops]) if drops else {}
    drops = [drop for drop in drops if fold(f"{drop.db}.{drop.name}") not in {fold(name) for name in left}]
    registry = modelpromote.registry_of(state)
    versions = modelpromote.versions_at(registry, engine, saved, env, history[0][1])

    def record() -> None:
        state.replace_published(env, saved)
        state.drop_history(env, version)
        modelpromote.settle(registry, versions, env, f"rolled back with environment {env} (toolkit rollback)", "rollback")
        audit(state.engine, "rollback", f"environment {env}", f"to saved state {version}")

    _create_schemas(engine, swaps)
    _commit(engine, state, swaps, drops, record, f"cannot roll back {env}")
    repointed = sorted(n for n in set(saved) & set(current)
                       if (saved[n].physical_name, saved[n].relation) != (current[n].physical_name, current[n].relation))
    newer = _built_since(state, {n: current[n] for n in repointed + sorted(set(current) - set(saved))}, history[0][1])
    return RolledBack(version, sorted(set(saved) - set(current)), sorted(set(current) - set(saved)), repointed, newer, left, unrestored)


def _restoring_swaps(engine, saved: dict[str, Published], meta: dict[str, dict | None], hooks_of, unrestored: list[str]) -> list[Swap]:
    """The saved views re-pointed, each given back its comments and grants as the promote found
    them (viewmeta.restore; what it cannot, into `unrestored`). A saved state with no record of
    them (an older toolkit's, an engine that cannot read them) runs the project's hooks as
    they are now, as rollback always did: said, since those may be the promoted ones."""
    swaps, unknown = [], []
    for name, row in saved.items():
        relation = exp.to_table(row.relation)
        if meta.get(name) is None:
            unknown.append(name)
            swaps.append(_swap(relation, row.physical_name, hooks_of, name))
            continue
        physical = exp.table_(row.physical_name, db=PHYSICAL_SCHEMA)
        swaps.append(Swap(relation, physical, lambda engine, relation=relation, was=meta[name]: unrestored.extend(viewmeta.restore(engine, relation, was))))
    if unknown and engine.HOOKS - {"analyze"}:  # an engine whose hooks set nothing on a view has nothing to put back
        unrestored.append(f"no record of the comments and grants of {', '.join(sorted(unknown))} before the promote: their views got "
                          f"the post_hooks of the project as it is now, and keep grants and comments given since on engines that keep them")
    return swaps


def _built_since(state: State, replaced: dict[str, Published], saved_at: datetime) -> dict[str, int]:
    """step -> run, of the `replaced` tables built after the state was saved: the environment's
    runs since the promote published them, and a rollback puts older tables back over them
    (a promote's own tables were built before it saved the state)."""
    created = state.relation_created()
    return {name: row.run_id for name, row in sorted(replaced.items())
            if created.get(row.physical_name) is not None and created[row.physical_name] > saved_at}


def parse_retention(text: str, option: str = "--retention") -> timedelta:
    match = _RETENTION.match(text or "")
    if not match:
        raise ProjectError(f"{option} '{text}' is not a duration like 7d, 12h or 30m")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})


@dataclass
class GcResult:
    dropped: list[tuple[str, str, datetime | None]] = field(default_factory=list)  # (name, kind, created)
    kept_recent: list[str] = field(default_factory=list)  # read by nothing live, younger than the retention
    in_use: int = 0  # kept because something live reads them (an environment, a saved state, their views)
    blocked: dict[str, str] = field(default_factory=dict)  # name -> why the engine kept it (drop_physical)
    expired_states: int = 0
    forgotten_steps: int = 0  # step_runs rows of runs older than --history
    forgotten_intervals: int = 0  # toolkit.intervals rows of physical tables gone (dropped now or before)


def gc(engine, state: State, retention: timedelta, dry_run: bool = False, at: datetime | None = None,
       history: timedelta | None = None) -> GcResult:
    """Drop physical relations nothing live reads that are older than `retention`; with
    `history`, forget the per-step records of runs older than that (each step's latest stays)."""
    at = at or now()
    cutoff = at - retention
    result = GcResult()
    if not state.exists():
        return result
    if not dry_run:
        state.ensure()
    result.expired_states = state.expire_history(cutoff, dry_run)
    if history is not None:
        result.forgotten_steps = state.forget_run_details(at - history, dry_run)
    # A dry run forgets no saved state: what the ones it would forget hold counts as dropped.
    live = live_relations(state, cutoff if dry_run else None)
    created = state.relation_created()
    started = state.run_started_at()
    existing = engine.relations(PHYSICAL_SCHEMA)
    for name, kind in sorted(existing.items(), key=lambda item: (item[1] != "view", item[0])):
        if name in live:
            result.in_use += 1
            continue
        born = created.get(name)
        if born is None:  # an orphan no state row describes: the run id in its name says when
            match = _RUN_ID.search(name)
            born = started.get(int(match.group(1))) if match else None
        if born is not None and born > cutoff:
            result.kept_recent.append(name)
            continue
        result.dropped.append((name, kind, born))
    if dry_run:  # say what a real gc would keep: what a view staying behind reads (drop_physical)
        result.blocked = blocked_drops(engine, [name for name, _, _ in result.dropped])
        result.dropped = [item for item in result.dropped if item[0] not in result.blocked]
    else:
        result.blocked = drop_physical(engine, [(name, kind) for name, kind, _ in result.dropped])
        result.dropped = [item for item in result.dropped if item[0] not in result.blocked]
        state.forget_relations([name for name, _, _ in result.dropped])
    # The intervals of tables that are gone: an incremental's bookkeeping, never read again.
    result.forgotten_intervals = state.forget_intervals(set(existing) - {name for name, _, _ in result.dropped}, dry_run)
    if not dry_run:
        names = ", ".join(name for name, _, _ in result.dropped[:20]) + (", ..." if len(result.dropped) > 20 else "")
        audit(state.engine, "gc", "toolkit_physical", f"retention {retention}: dropped {len(result.dropped)} relation(s)"
              + (f" ({names})" if names else "") + f"; forgot {result.expired_states} saved state(s)"
              + (f"; forgot {result.forgotten_steps} step record(s) of runs older than {history}" if history is not None else "")
              + (f"; forgot {result.forgotten_intervals} interval row(s) of dropped tables" if result.forgotten_intervals else ""))
    return result
