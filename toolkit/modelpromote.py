"""The model part of `toolkit promote` and `toolkit rollback` (environments.py): which
version each model scores with in the destination, why a promote is refused for a model,
and the registry rows that record it.

environments.py moves views and saved states; this module only reads predictions tables
and the registry, and writes the registry (inside environments' transaction, where the
registry shares the state's engine). It imports nothing of environments.py.

    promote   a model's version in the destination becomes the one the source's published
              predictions were scored with (`scored_with`): prod's production
              (registry.promote, action "promote"), another environment's choice
              (registry.choose); `was` is the version it scored with before.
    refused   the destination scored a model after the source did, with another version or
              from other data (`rescored_since`): promoting would put older predictions
              (and version) back. `refusal` words it.
    rollback  prod's production of when the state was saved; another environment's: the
              version of its restored predictions (`versions_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from toolkit.engines.base import Swap
from toolkit.state import PHYSICAL_SCHEMA, PROD, Published, State


@dataclass(frozen=True)
class Rescored:
    """The destination's predictions of `model`, scored in its run `run` with version `theirs`
    after the source's run `source_run` scored them with version `ours`."""

    run: int
    model: str
    theirs: int
    ours: int | None
    source_run: int


def registry_of(state: State):
    """The model registry of the state store, when a model was ever registered there."""
    from toolkit.registry import Registry

    registry = Registry(state.engine)
    return registry if registry.exists() else None


def scored_with(engine, rows: dict[str, Published]) -> dict[str, int]:
    """model -> the version its published predictions (the physical table itself, not a run
    record) were scored with; a table holding no rows or several versions names none."""
    found = {}
    for name, row in rows.items():
        if row.materialized != "model":
            continue
        physical = exp.table_(row.physical_name, db=PHYSICAL_SCHEMA)
        versions = engine.fetch_rows(exp.select(exp.column("model_version")).distinct().from_(physical).limit(2))
        if len(versions) == 1 and versions[0][0] is not None:
            found[name] = int(versions[0][0])
    return found


def published_versions(engine, state: State, models, env: str) -> dict[str, tuple[str, int]]:
    """model -> (relation, version) of the predictions `env` publishes now, for those of
    `models` it publishes: what its readers are served, which after a `models rollback`
    is still the rolled-back version's scores until a run scores again."""
    found = {}
    for name, row in state.published(env).items():
        if name not in set(models):
            continue
        try:
            version = scored_with(engine, {name: row}).get(name)
        except Exception:  # noqa: BLE001 - its table gone (dropped by hand): nothing to say it serves
            version = None
        if version is not None:
            found[name] = (row.relation, version)
    return found


def version_of(registry, model: str, env: str) -> int | None:
    """The version `env` scores `model` with now: its choice, else prod's production."""
    found = registry.chosen(model, env) or registry.production(model)
    return found.version if found else None


def choices(registry, engine, rows: dict[str, Published], destination: str) -> tuple[dict[str, int], dict[str, int | None]]:
    """(model -> the version promoting `rows` makes `destination` score with, model -> the one
    it scores with now): empty without a registry."""
    versions = scored_with(engine, rows) if registry is not None else {}
    return versions, {model: version_of(registry, model, destination) for model in versions}


def versions_at(registry, engine, saved: dict[str, Published], env: str, saved_at) -> dict[str, int]:
    """model -> the version a rollback of `env` to a state saved at `saved_at` makes it score
    with. Prod: the production version of then, not the one its restored predictions name
    (a version chosen by hand since they were scored, `models promote/rollback`, was
    production then and is again). Another environment: the version of its predictions."""
    scored = scored_with(engine, saved)
    if registry is None or env != PROD:
        return scored
    then = {model: registry.production_at(model, saved_at) for model in scored}
    return {model: then[model] or version for model, version in scored.items()}


def settle(registry, versions: dict[str, int], env: str, why: str, action: str) -> None:
    """Make each model's version the one `env` scores with: prod's production (history
    action `action`, an audit row), another environment's choice (action "choose").
    Inside the caller's transaction where the registry shares its engine."""
    if registry is None:
        return
    for model, version in sorted(versions.items()):
        if env == PROD:
            registry.promote(model, version, reason=why, action=action)
        else:
            registry.choose(model, version, env, None, why)


def with_history(swap: Swap) -> Swap:
    """A promoted model's swap that also appends to the destination's <model>_history the
    rows of the runs it now serves that the history lacks, in the swap's transaction."""
    from toolkit.materializations.model import append_to_history

    then = swap.extras

    def extras(engine) -> None:
        append_to_history(engine, swap.relation, swap.physical, new_runs_only=True)
        if then is not None:
            then(engine)

    return Swap(swap.relation, swap.physical, extras)


def rescored_since(engine, destination: dict[str, Published], source: dict[str, Published]) -> list[Rescored]:
    """The destination's predictions scored after the source's with another version (a
    person made another version production there since: `models approve`, `promote`,
    `rollback`), or with the same version from other data (new rows to score): the promote
    would put older predictions (and version) back. Not other data that only the source's
    code made (it changed a step upstream: its readers differ by design)."""
    later = {name: row for name, row in source.items() if row.materialized == "model" and name in destination
             and destination[name].run_id > row.run_id and destination[name].physical_name != row.physical_name}
    if not later:
        return []
    theirs, ours = scored_with(engine, {n: destination[n] for n in later}), scored_with(engine, later)
    return [Rescored(destination[n].run_id, n, theirs[n], ours.get(n), later[n].run_id) for n in sorted(later)
            if n in theirs and (theirs[n] != ours.get(n) or _scored_other_data(destination, source, n))]


def refusal(rescored: list[Rescored], source: str, destination: str) -> list[str]:
    """One clause per model of a refused promote's message: what the destination scored since."""
    clauses = []
    for r in rescored:
        since = f"{source}'s run {r.source_run}" + ("" if r.ours is None else f" (version {r.ours}"
                                                     + (", other data)" if r.ours == r.theirs else ")"))
        clauses.append(f"{destination}'s run {r.run} scored {r.model} with version {r.theirs} since {since}")
    return clauses


def _scored_other_data(destination: dict[str, Published], source: dict[str, Published], name: str) -> bool:
    """Whether the destination's model `name` read other data of its upstream steps than the
    source's did, with the same code upstream in both environments."""
    theirs, ours = destination[name].inputs, source[name].inputs
    if not any(theirs.get(key) != print_ for key, print_ in ours.items() if key in theirs):
        return False
    return not _code_differs_upstream(destination, source, name)


def _code_differs_upstream(destination: dict[str, Published], source: dict[str, Published], name: str) -> bool:
    """Whether a step upstream of `name` (its inputs, transitively) has other code in the
    source than in the destination. A step the source does not publish reads the destination's."""
    seen, stack = set(), [key for key in source[name].inputs if not key.startswith("source:")]
    while stack:
        step = stack.pop()
        if step in seen or step not in destination and step not in source:
            continue
        if step not in destination:  # a step only the source has: its code
            return True
        seen.add(step)
        ours = source.get(step, destination[step])
        if ours.definition != destination[step].definition:
            return True
        stack.extend(key for key in {**ours.inputs, **destination[step].inputs} if not key.startswith("source:"))
    return False
