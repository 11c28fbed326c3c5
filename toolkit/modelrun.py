"""One model step in a run: train (or reuse) a version, gate it, score, then promote.

    fingerprint known in the registry?  yes -> reuse that version (no training;
                                               --full-refresh trains anyway)
                                        no  -> read Arrow, split, fit candidates,
                                               evaluate, register the best (a candidate);
                                               apply the promotion policy (gates,
                                               then auto | challenger | manual)
    score the scoring table into a new physical table: with the version the policy
    chose to promote, else with the production version
    promote that version only once its predictions are published (`Promotion`: the
    runner calls it after publishing)

A version the policy chose is production only after its predictions are published:
if scoring, anything after it in the step, or publishing fails, or the run is
interrupted before publishing (the runner's withhold_unsettled), production stays as it was, the
version stays a candidate and its history says why (`held_back`, action "hold"),
and the next run, finding it by its fingerprint, scores with it again and promotes
it then (`_restore_if_reverted`), without training again. A run killed outright
leaves no "hold": a version registered by a run and never production is promoted then
too, saying it was chosen in that run; one a challenger comparison declined (action
"challenge") is not.

A run of another environment (`--env dev`) never changes prod's production: the
version its policy chooses scores its rows, and once they are published it is that
environment's choice (history action "choose", env 'dev'; a person's, `toolkit models
approve --env dev`, is action "approve"), which its next runs score with (`current`);
prod's decisions read prod's rows only. `toolkit promote dev prod`
makes production the version dev's published predictions were scored with
(environments.py).

The executor then publishes predictions.<model> like any step (write-audit-publish)
and appends the rows to predictions.<model>_history in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlglot import exp

from toolkit.errors import StepFailed
from toolkit.mlcore import Feature, ProbaColumnClash, proba_columns
from toolkit.models import ModelSpec
from toolkit.state import PROD


WAIT = "wait"  # history action: promote="manual" left a new version waiting for approval
DECLINED = ("challenge", WAIT)  # history actions of a version the policy did not choose


@dataclass
class ModelOutcome:
    version: int
    trained: bool
    reason: str
    rows: int = 0
    metrics: dict = field(default_factory=dict)
    candidates: list = field(default_factory=list)  # every candidate fitted this run: name, metrics
    scored_with: int = 0
    scored_in: str = ""  # sql | python
    scoring_note: str = ""  # why "auto" scored where it did
    null_counts: dict = field(default_factory=dict)
    unseen_counts: dict = field(default_factory=dict)
    rows_trained: int | None = None  # labeled rows read to train (train + held-out); None: did not train
    held_out: Any = None  # pa.Table: the new version's predictions on its held-out rows (monitoring's baseline)
    promotion: str | None = None  # the policy chose `version`: the registry's reason, once it scored (promote_scored)
    promoted: str = ""  # what the run record then adds to `reason`


def model_fingerprint(content_hash: str, training_data: str) -> str:
    """Code, declaration and the candidates' parameters (ModelSpec.params_hash) plus training data."""
    return hashlib.sha256(f"{content_hash}|{training_data}".encode()).hexdigest()


def train_and_score(engine, registry, spec: ModelSpec, fingerprint: str, training: exp.Table, scoring: exp.Table,
                    output: exp.Table, run_id: int, retrain: bool = False,
                    progress: Callable[[str], None] = lambda phase: None,
                    acting: Callable[[str], None] = lambda action: None,
                    shown: Callable[[str], str] = lambda step: f"features.{step}", env: str = PROD) -> ModelOutcome:
    """`progress(phase)` hears what the step is doing (the console shows it with the time);
    `acting(action)`, before anything can fail, whether it trains or only scores; `shown(step)`
    is the name a user queries a step by (its config(schema=, alias=) published name).
    A run of an environment other than prod (`env`) chooses its own version (`current`)
    and never changes prod's production: `toolkit promote` does that."""
    existing = None if retrain else registry.find(spec.name, fingerprint)
    acting("score" if existing is not None else "train")
    progress("checking the training table for leakage" if spec.as_of else "checking the training table")
    check_leakage(engine, spec, training)
    if existing is not None:
        outcome = ModelOutcome(existing.version, False, f"reused version {existing.version} (fingerprint unchanged)", metrics=existing.metrics)
        _restore_if_reverted(registry, spec, existing, run_id, outcome, env)
    else:
        outcome = _train(engine, registry, spec, fingerprint, training, run_id, progress, shown(spec.training), env)
        if retrain:
            outcome.reason += " (--full-refresh: trained again)"
    try:
        production = current(registry, spec.name, env)
        if outcome.promotion is not None:
            scoring_with = registry.get(spec.name, outcome.version)
        elif production is None:
            raise StepFailed(f"model {spec.name}: {outcome.reason}; no production version to score with")
        else:
            scoring_with = production
        estimator = registry.load(spec.name, scoring_with.version)
        check_proba_columns(spec, estimator, f"version {scoring_with.version}", engine.MAX_COLUMN_LENGTH)  # one registered before names were checked
        report = _score(engine, estimator, spec, scoring_with.features, scoring, output, scoring_with.version, run_id, outcome,
                        progress, shown(spec.scoring_table))
    except Exception as error:
        held_back(registry, spec, outcome, run_id, error, env)
        raise
    outcome.scored_with = scoring_with.version
    outcome.rows, outcome.null_counts, outcome.unseen_counts = report.rows, report.null_counts, report.unseen_counts
    if scoring_with.version != outcome.version:
        outcome.reason += f"; scored with {_whose(scoring_with, env)} version {scoring_with.version}"
    return outcome


def current(registry, model: str, env: str):
    """The version a run of `env` scores with unless its policy chooses another: prod's
    production, or the one another environment chose last (registry.chosen), else prod's."""
    return registry.chosen(model, env) or registry.production(model)


def _whose(version, env: str) -> str:
    return "production" if env == PROD or version.status == "production" else f"{env}'s"


@dataclass
class Promotion:
    """A version the policy chose, which scored the run's rows: production once its
    predictions are published (`published`), not before; a candidate still, its history
    saying why, when they are not (`withheld`). The runner calls one of them after
    publishing; each returns the step's reason for the run record."""

    registry: Any
    spec: ModelSpec
    outcome: ModelOutcome
    run_id: int
    env: str = PROD

    def published(self) -> str:
        promote_scored(self.registry, self.spec, self.outcome, self.run_id, self.env)
        return self.outcome.reason

    def withheld(self, why: str) -> str:
        held_back(self.registry, self.spec, self.outcome, self.run_id, StepFailed(why), self.env)
        return self.outcome.reason


def promote_scored(registry, spec: ModelSpec, outcome: ModelOutcome, run_id: int, env: str = PROD) -> None:
    """The version the policy chose scored the run's rows and they are published: it
    becomes production now (and not before: a failed run promotes nothing). In another
    environment it becomes that environment's choice (action "choose"), not production."""
    if outcome.promotion is None:
        return
    if env == PROD:
        registry.promote(spec.name, outcome.version, run_id=run_id, reason=outcome.promotion)
        outcome.reason += outcome.promoted
    else:
        registry.choose(spec.name, outcome.version, env, run_id, f"chosen in {env} ({outcome.promotion})")
        outcome.reason += f"; chosen in {env} (prod's production stays as it is until toolkit promote {env} prod)"
    outcome.promotion = None


def held_back(registry, spec: ModelSpec, outcome: ModelOutcome, run_id: int, error: Exception, env: str = PROD) -> None:
    """The step failed after a version was trained or chosen: production stays as it was;
    a version the policy chose stays a candidate, its history saying why (action "hold");
    `error` carries the version and the reason to the run record (step_runs)."""
    failure = " ".join(str(error).split())
    if outcome.promotion is not None:
        outcome.reason += f"; not promoted: the step failed with it: {failure}"
        try:
            registry.hold(spec.name, outcome.version, run_id=run_id,
                          reason=f"not promoted ({outcome.promotion}): the step failed with it: {failure}", env=env)
        except Exception:  # the registry is as it was (a candidate): only the history line is missing
            pass
        outcome.promotion = None
    own = getattr(error, "details", None)
    if own is not None and not isinstance(own, str):  # the engine's diagnostics (ADBC: a list of pairs), which
        return  # engine_message reads for the user's message: they stay; the run record goes without the version
    try:
        details = json.loads(own or "{}")
    except ValueError:
        details = {}
    details.update({"version": outcome.version, "trained": outcome.trained, "metrics": outcome.metrics,
                    "candidates": outcome.candidates, "rows_trained": outcome.rows_trained})
    if outcome.scoring_note:
        details.setdefault("scoring_note", outcome.scoring_note)
    try:
        error.details, error.reason = json.dumps(details, default=str), outcome.reason
    except AttributeError:  # an exception type that takes no attributes: the error alone is recorded
        pass


def _train(engine, registry, spec: ModelSpec, fingerprint: str, training: exp.Table, run_id: int, progress,
           display: str, env: str = PROD) -> ModelOutcome:
    """Fit, register the best candidate, and apply the promotion policy to it (a challenger
    meets the version `env` scores with: in prod, production)."""
    from toolkit import training as trainer

    production = current(registry, spec.name, env) if spec.promote == "challenger" else None
    incumbent = (registry.load(spec.name, production.version), [f.name for f in production.features]) if production else None
    progress(f"reading {display}")
    data = trainer.read_training(engine, training, spec, display=display, also=incumbent[1] if incumbent else ())
    progress(f"read {data.num_rows:,} labeled rows")
    result = trainer.fit_candidates(spec, data, incumbent, progress)
    check_proba_columns(spec, result.estimator, f"the trained {result.best}", engine.MAX_COLUMN_LENGTH)  # before anything is registered
    scoring_sql = readable_sql(engine, result.estimator, spec, result.features)  # refuses before registering
    version = registry.register(
        model=spec.name, fingerprint=fingerprint, estimator=result.estimator, candidate=result.best,
        metrics=result.metrics, params=next(c["params"] for c in result.candidates if c["name"] == result.best),
        features=result.features, training_table=spec.training, run_id=run_id,
        scoring_sql=scoring_sql, segments=result.segments, evaluation=result.evaluation, failed_gate=result.failed_gate,
        env=env,
    )
    decision, why = _apply_policy(spec, result, version, production, env)
    if result.passed_gates and production is not None and why is None:  # challenger: production stays, and says why
        registry.decline(spec.name, version, run_id, decision, env)
    elif result.passed_gates and spec.promote == "manual":  # so promote="auto" later does not promote it when re-scoring
        registry.decline(spec.name, version, run_id, decision, env, action=WAIT)
    outcome = ModelOutcome(version, True, f"trained version {version} ({result.best}: {_metrics(result.metrics)})"
                                          + (f"; {decision}" if decision else ""),
                           metrics=result.metrics, rows_trained=data.num_rows)
    if why is not None:
        outcome.promotion, outcome.promoted = f"promote='{spec.promote}': {why}", f"; promoted ({why})"
    if len(result.test_index):
        from toolkit.scoring import held_out_predictions

        outcome.held_out = held_out_predictions(result.estimator, spec, result.features, data, result.test_index, version, run_id)
    outcome.candidates = [{"name": c["name"], "metrics": c["metrics"]} for c in result.candidates]
    if result.incumbent_metrics is not None:
        outcome.candidates.append({"name": f"{_whose(production, env)} version {production.version}", "metrics": result.incumbent_metrics})
    return outcome


def check_proba_columns(spec: ModelSpec, estimator, which: str, max_length: int | None = None) -> None:
    """A classifier's classes must each name their own proba_<class> column (mlcore.proba_columns),
    and no name may be longer than the target keeps (`max_length`, the engine's MAX_COLUMN_LENGTH):
    the step fails naming the class(es) and the column, before anything is registered or scored."""
    from sklearn.base import is_classifier

    if not (is_classifier(estimator) and hasattr(estimator, "classes_") and hasattr(estimator, "predict_proba")):
        return
    try:
        proba_columns(list(estimator.classes_), max_length)
    except ProbaColumnClash as clash:
        raise StepFailed(f"model {spec.name}: {which} cannot be published: {clash}") from None


def _apply_policy(spec: ModelSpec, result, version: int, production, env: str = PROD) -> tuple[str, str | None]:
    """(why not, None) when the new version is not to be promoted (what the run record
    says); ("", why) when it is: it scores this run, and is promoted once that succeeded.
    `production`: the version `env` scores with (in dev, maybe dev's choice, not production)."""
    incumbent = f"{_whose(production, env)} version {production.version}" if production is not None else ""
    if not result.passed_gates:
        return f"not promoted: gate {result.failed_gate}", None
    if spec.promote == "manual":
        return f"waits for approval (promote='manual'): toolkit models approve {spec.name} {version}", None
    why = "passed its gates"
    if production is not None:  # promote="challenger" against a production version
        if result.incumbent_metrics is None:
            return (f"not promoted: {incumbent} could not be scored on the held-out rows: "
                    f"{result.incumbent_error}"), None
        primary = next(iter(result.metrics))
        new, old = result.metrics[primary], result.incumbent_metrics[primary]
        compared = f"{primary} {new:.4g} vs {incumbent}'s {old:.4g} on the same held-out rows"
        if not beats(new, old, spec.margin):
            tie = ": a tie does not beat it" if new == old and not spec.margin else ""
            return f"not promoted: {compared}, margin {spec.margin:g}{tie}", None
        why = f"beat it: {compared}, margin {spec.margin:g}"
    return "", why


def beats(new: float, old: float, margin: float) -> bool:
    """The challenger's first metric beats production's by at least `margin` (every metric
    is greater-is-better: losses are negated scorers). With margin 0 it must be greater: a
    tie does not beat production. NaN on either side never beats."""
    return new >= old + margin if margin > 0 else new > old


def _score(engine, estimator, spec: ModelSpec, features: list[Feature], scoring: exp.Table, output: exp.Table, version: int,
           run_id: int, outcome: ModelOutcome, progress=lambda phase: None, display: str = ""):
    """In the warehouse when the spec allows, the pipeline compiles and (scoring="auto") the
    cost model says SQL is the faster path; else in Python."""
    from toolkit import scoring as scorer
    from toolkit.modelsql import Unsupported

    choice = _auto_choice(engine, estimator, spec, scoring)
    if choice is not None and not choice.sql:
        outcome.scoring_note = choice.reason
    elif spec.scoring != "python":
        confirmed = [choice]

        def confirm(checks: int) -> None:  # the refusal query SQL runs first, counted once known
            confirmed[0] = choice.confirm(estimator, engine.name, checks)
            if not confirmed[0].sql:
                raise scorer.SlowerInSql(confirmed[0].reason)
            progress(f"scoring {display} in the warehouse (version {version})")

        try:  # with "auto", where it runs is said once the cost model has confirmed it (confirm)
            progress(f"scoring {display} in the warehouse (version {version})" if choice is None
                     else f"scoring {display} (version {version}): compiling the model to SQL")
            report = scorer.score_in_sql(engine, estimator, spec, features, scoring, output, version, run_id, display=display,
                                         confirm=confirm if choice is not None else None)
            outcome.scored_in, outcome.scoring_note = "sql", confirmed[0].reason if choice is not None else ""
            return report
        except Unsupported as unsupported:
            if spec.scoring == "sql":
                raise _sql_refused(spec, unsupported) from None
            outcome.scoring_note = f"scored in Python: {unsupported}"
        except scorer.SlowerInSql as slower:
            outcome.scoring_note = slower.reason
    outcome.scored_in = "python"
    progress(f"scoring {display} in Python (version {version})")
    return scorer.score(engine, estimator, spec, features, scoring, output, version, run_id, display=display)


def readable_sql(engine, estimator, spec: ModelSpec, features: list[Feature]) -> str | None:
    """The fitted pipeline as SQL over the published scoring table, in the target's
    dialect, stored with the version for analysts to read and re-run; None when it
    does not compile; StepFailed when it does not compile and the spec says scoring='sql'."""
    from toolkit import sql
    from toolkit.modelsql import Unsupported
    from toolkit.scoring import compiled_scores

    choice = _auto_choice(engine, estimator, spec)
    if choice is not None and not choice.sql:
        return None  # never compiled: a large ensemble's SQL took minutes to build and scores slower
    source = exp.table_(spec.scoring_table, db="features")
    try:
        select = compiled_scores(estimator, spec, features, source, engine)
    except Unsupported as unsupported:
        if spec.scoring == "sql":
            raise _sql_refused(spec, unsupported) from None
        return None
    return sql.pretty(engine.generate(select), engine.dialect)


def _auto_choice(engine, estimator, spec: ModelSpec, scoring: exp.Table | None = None):
    """scoring="auto": the cost model's choice (modelsql/cost.py) for the rows of `scoring`
    (None: for a table large enough); None when the spec decides."""
    if spec.scoring != "auto":
        return None
    from toolkit.modelsql.cost import choose

    return choose(estimator, engine.name, _rows_to_score(engine, scoring) if scoring is not None else None)


def _rows_to_score(engine, scoring: exp.Table) -> int | None:
    """The scoring table's rows where counting them is cheap, a stored table; None for a
    view (its count would run its query once more: the per-row costs decide then)."""
    if engine.relations(scoring.db).get(scoring.name) != "table":
        return None
    return engine.count_rows(scoring)


def _sql_refused(spec: ModelSpec, unsupported: Exception) -> StepFailed:
    return StepFailed(f"model {spec.name}: scoring='sql' but {unsupported} (use scoring='auto' or 'python')")


def _restore_if_reverted(registry, spec: ModelSpec, existing, run_id: int, outcome: ModelOutcome, env: str = PROD) -> None:
    """The code went back to an earlier version's fingerprint: what `reverted_choice`
    decides, applied to the run's outcome."""
    choice = reverted_choice(registry, spec, existing, env)
    outcome.reason += choice.note
    if choice.promotion is not None:
        outcome.promotion, outcome.promoted = choice.promotion, choice.promoted


@dataclass(frozen=True)
class RevertedChoice:
    """What a run does with a version it found by its fingerprint (read-only: the plan
    asks too, modelplan.py). `promotion` set: it scores with that version and promotes
    it once published; else it scores with the current version, `note` saying why."""

    note: str = ""  # what the run record's reason gains
    promotion: str | None = None
    promoted: str = ""


def _command_of(change) -> str:
    """The command a person ran to make `change`: `toolkit promote` / `toolkit rollback`
    of an environment record their name in the reason, the models commands do not."""
    for command in ("toolkit promote", "toolkit rollback"):
        if f"({command})" in change.reason:
            return command
    return f"toolkit models {change.action}"


def reverted_choice(registry, spec: ModelSpec, existing, env: str = PROD) -> RevertedChoice:
    """The code went back to an earlier version's fingerprint: that version is what the
    code declares, so it becomes production (again) if it passes today's gates, once it
    scored this run's rows (promote_scored). So does a version the policy chose whose
    step failed (held back, history action "hold"): its next run scores with it.
    A version a person chose (models promote/approve/rollback) stays, against every
    version registered before that choice; one trained since is decided as above.
    Only `env`'s history counts: another environment's choices never move prod's
    production (in another environment, "production" is the version it scores with)."""
    production = current(registry, spec.name, env)
    if spec.promote == "manual" or (production is not None and production.version == existing.version):
        return RevertedChoice()
    from toolkit.registry import CHOICES

    stays = "production stays" if env == PROD else f"{env} stays on"
    history = registry.history(spec.name, env)
    # Another environment's run records its choice as "choose" (prod's run: "promote"): it ends a
    # person's earlier choice there as a prod run's promotion does in prod. Only a choice with no
    # run (a person's: models promote/approve/rollback --env, toolkit rollback ENV) holds.
    decisions = [c for c in history if c.action in CHOICES]
    if decisions and decisions[-1].run_id is None and not _registered_since(registry, spec.name, existing.version, env):
        # a person chose production last, and `existing` was there when they did: that choice holds
        return RevertedChoice(f"; {stays} version {production.version} (set by `{_command_of(decisions[-1])}`)")
    from toolkit.training import failed_gate

    # The gates training applies, max_gap ones included (a maximum, in the segments): read
    # as minimums of the metrics, those always failed, and nothing said why.
    failed = failed_gate(spec, existing.metrics, existing.segments)
    if failed:
        return RevertedChoice(f"; {stays} version {production.version}: version {existing.version} fails its gate {failed}"
                              if production is not None else f"; version {existing.version} fails its gate {failed}")
    latest = [c for c in history if c.action in ("promote", "approve", "rollback", "hold", "choose")]
    if latest and latest[-1].action == "hold" and latest[-1].version == existing.version:  # chosen last, its run failed: again
        return RevertedChoice(
            promotion=f"promote='{spec.promote}': scored this time (not published in run {latest[-1].run_id}: {latest[-1].reason})",
            promoted=f"; promoted (held in run {latest[-1].run_id}, published now)")
    own = [c for c in history if c.version == existing.version]
    chosen = any(c.status == "production" if env == PROD else c.action in CHOICES for c in own)
    declined = next((c for c in reversed(own) if c.action in DECLINED), None)
    if declined is not None and not chosen:  # the policy chose production over it, or left it to a person
        return RevertedChoice(f"; {stays} version {production.version}: version {existing.version} {declined.reason}"
                              if production is not None else f"; version {existing.version} {declined.reason}")
    if not own:  # registered by a run of another environment, never decided on here
        lost = _lost_elsewhere(registry, spec.name, existing.version)
        if lost is not None:  # its challenge there was on this very training data: it lost
            because = f"version {existing.version} {lost.reason} (in {lost.in_env}, run {lost.run_id})"
            return RevertedChoice(f"; {stays} version {production.version}: {because}" if production is not None else f"; {because}")
        return RevertedChoice(
            promotion=f"promote='{spec.promote}': its fingerprint is declared (trained in run {existing.run_id} of another environment)",
            promoted=f"; promoted (trained in run {existing.run_id} of another environment)")
    if not chosen and existing.run_id is not None:  # chosen, its run ended unsettled
        return RevertedChoice(
            promotion=(f"promote='{spec.promote}': chosen in run {existing.run_id}, which ended before publishing its "
                       "predictions (killed or interrupted); scored this time"),
            promoted=f"; promoted (chosen in run {existing.run_id}, published now)")
    return RevertedChoice(promotion="its fingerprint is declared again", promoted="; promoted again")


def _registered_since(registry, model: str, version: int, env: str) -> bool:
    """Whether `version` was registered (trained by a run of any environment) after the last
    decision on the version `env` scores with (models promote/approve/rollback, toolkit
    promote/rollback). A person's choice holds against the versions there were when it was
    made (the code going back to one of them); a version trained since is newer than the
    choice: the policy decides it as if its run had succeeded (held, killed: promoted now)."""
    from toolkit.registry import CHOICES

    since = False
    for change in registry.history(model):
        if change.in_env == env and change.action in CHOICES:  # a run's choice too: what came before it is older
            since = False
        elif change.action == "register" and change.version == version:
            since = True
    return since


def _lost_elsewhere(registry, model: str, version: int):
    """The challenge `version` lost in another environment (its history row), when no
    environment chose it since: a challenger found there by its fingerprint stays a
    candidate here, as it would in the environment that trained it."""
    from toolkit.registry import CHOICES

    rows = [c for c in registry.history(model) if c.version == version]
    if any(c.action in CHOICES or c.status == "production" for c in rows):
        return None
    return next((c for c in reversed(rows) if c.action in DECLINED), None)


def check_leakage(engine, spec: ModelSpec, training: exp.Table) -> None:
    """A declared point-in-time check, run in the warehouse: no feature time may be
    later than the label's as-of time, or the model would learn from the future."""
    if not spec.as_of:
        return
    as_of = exp.column(spec.as_of, quoted=True)
    for column in spec.feature_times:
        late = exp.GT(this=exp.column(column, quoted=True), expression=as_of.copy())
        count = engine.fetch_rows(exp.select("count(*)").from_(training).where(late))[0][0]
        if count:
            raise StepFailed(
                f"model {spec.name}: leakage: {count} row(s) of {spec.training} have {column} later than {spec.as_of}"
            )


def _metrics(metrics: dict) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
