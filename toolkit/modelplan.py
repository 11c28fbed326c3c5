"""What a model step the plan builds will do: train a new version, or score again with a
registered one. `toolkit plan` says which, so a person tells a retrain from a re-score
before the run.

The run decides in materializations/model.py (`build`): a version registered under the
step's training fingerprint is reused (no training), else one is trained; then it scores
with the version modelrun.reverted_choice picks, else the current one. This module asks
the registry the same questions, read-only (planning creates no table: before the first
run there is no registry, and every model trains), and imports no scikit-learn: it runs
only for model steps the plan builds, never on a no-op plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.actions import ReasonKind
from toolkit.state import PROD


@dataclass(frozen=True)
class ModelIntent:
    trains: bool
    why: str  # what makes it train, or what changed that only re-scores
    version: int | None = None  # re-score: the version it scores with (None: there is none, the run fails)
    matched: int | None = None  # re-score: the registered version its training fingerprint finds
    then: str = ""  # what the run does with that version besides scoring (promotes it, leaves production as it is)

    @property
    def action(self) -> str:
        return "train" if self.trains else "score"

    def text(self) -> str:
        """'train a new version (training data (tr) changed)' | 're-score with registered version 1, no training (...)'."""
        if self.trains:
            return f"train a new version ({self.why})"
        found = f"version {self.matched} has its training fingerprint"
        if self.then.startswith("; "):  # why the run keeps scoring with another version than that one
            found += ", but " + self.then.removeprefix("; ")
        if self.version is None:
            return f"no training ({self.why}; {found}), but no production version to score with: the run fails"
        if self.matched != self.version:
            return f"re-score with registered version {self.version}, no training ({self.why}; {found})"
        if self.then:  # back to a version that was not scoring: the run makes it so
            return f"re-score with registered version {self.version}, no training ({self.why}; {found}){self.then}"
        return f"re-score with registered version {self.version}, no training ({self.why})"

    def fields(self) -> dict:
        """The plan event's fields (explain.to_dict)."""
        return {"model_action": self.action, "model_version": self.version, "model_matched_version": self.matched,
                "model_reason": self.text()}


def intents(compiled, registry, plan) -> dict[str, ModelIntent]:
    """Model step -> what it does, for every model step `plan` builds (none for a reuse)."""
    models = compiled.project.models
    return {name: intent(registry, models[name], planned, plan.env)
            for name, planned in plan.steps.items() if name in models and planned.builds}


def intent(registry, spec, planned, env: str = PROD) -> ModelIntent:
    """The run's own decision (Model.build, modelrun.train_and_score), without its writes."""
    from toolkit import modelrun
    from toolkit.materializations.model import training_fingerprint

    if planned.reason.kind is ReasonKind.FORCED:  # the run's `retrain`
        return ModelIntent(True, "--full-refresh trains again")
    fingerprint = training_fingerprint(registry, spec, planned.upstream_prints[spec.training])
    existing = registry.find(spec.name, fingerprint)  # None when there is no registry yet
    if existing is None:
        return ModelIntent(True, _why_train(registry, spec, planned))
    choice = modelrun.reverted_choice(registry, spec, existing, env)
    scoring_now = modelrun.current(registry, spec.name, env)
    scoring_with = existing if choice.promotion is not None else scoring_now
    then = choice.note  # "; production stays version 2 (set by ...)"
    if choice.promotion is not None:
        then = ", then promoted to production" if env == PROD else f", then chosen in {env}"
    back = scoring_now is None or scoring_now.version != existing.version  # to a version that was not scoring
    newest = registry.versions(spec.name)[-1].version
    return ModelIntent(False, _why_score(spec, planned, back, existing.version, newest),
                       scoring_with.version if scoring_with else None, existing.version, then)


def _changed_inputs(planned) -> set[str]:
    """Upstream steps whose data, as the step reads it, differs from what its published row read."""
    before = (planned.current.inputs or {}) if planned.current is not None else {}
    return {name for name, value in planned.prints.inputs.items() if before.get(name) != value}


def _code_changed(planned) -> bool:
    return planned.current is not None and planned.current.content not in (None, planned.step.content_hash)


def _training_changes(spec, planned) -> list[str]:
    """What changed since the published predictions that a training fingerprint holds."""
    changed = [f"training data ({spec.training})"] if planned.current is not None and spec.training in _changed_inputs(planned) else []
    return changed + (["model code"] if _code_changed(planned) else [])


def _why_train(registry, spec, planned) -> str:
    if not registry.versions(spec.name):
        return "no version registered yet"
    changed = _training_changes(spec, planned)
    return f"{' and '.join(changed)} changed" if changed else "no registered version has its training data and model code"


def _why_score(spec, planned, back: bool, matched: int, newest: int) -> str:
    """What changed that the run only re-scores for: the scoring table, other upstream,
    the model file: what it trains went back to the version scoring now (`matched`, an
    earlier one than the `newest`), or only how it scores and is watched (unless `back`:
    what it trains went back to a version not scoring now), the production version."""
    changed = _changed_inputs(planned) if planned.current is not None else set()
    whys = [f"scoring table changed: {spec.scoring_table}"] if spec.scoring_table in changed else []
    whys += [f"upstream changed: {name}" for name in sorted(changed - {spec.scoring_table, spec.training})]
    training = _training_changes(spec, planned)
    if training == ["model code"] and not back:
        whys.append(f"model code back to version {matched}'s" if matched != newest
                    else "scoring, scoring_table, monitors or outcomes changed, not what the model trains")
    elif training:
        whys.append(f"{' and '.join(training)} changed")
    if planned.reason.kind is ReasonKind.PRODUCTION_CHANGED:
        whys.append(f"production version is now {planned.reason.detail}")
    return "; ".join(whys) or "training data and model code unchanged"
