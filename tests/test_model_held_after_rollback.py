"""A version trained after a person chose production (`models rollback`, `models promote`)
whose first scoring failed is held ("not promoted ...: the step failed with it"); the next
good run scores with it and promotes it, as it does without the earlier choice and as the
same code change is promoted when nothing fails. It used to score with the chosen version
for good, exit 0 ("production stays version 1 (set by `toolkit models rollback`)"), the
new version a candidate forever. A person's choice still holds against the versions there
were when it was made, the held one included when the choice came after it."""

from __future__ import annotations

import pytest

from _projects import write_files
from models_env_support import FILES, MODEL, churn_project, churn_step, production, scored_with
from postgres_support import pg_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # model runs in subprocesses

# every x NULL: the run refuses to score it ("entirely NULL or NaN"), after training
FAILING_SC = "select n as id, case when n < 0 then n / 10.0 end as x from generate_series(1, 10) as t(n)\n"
PINS = {"rollback": ("models", "rollback", "churn"), "promote": ("models", "promote", "churn", "1")}


class _On:
    """What churn_project reads of a pytest request, with the engine chosen here."""

    def __init__(self, request, engine: str):
        self.param, self.getfixturevalue = engine, request.getfixturevalue


def pin_version_1(request, tmp_path, run_cli, engine: str, pin: str):
    """Version 2 production after version 1, then a person makes version 1 production again."""
    root, read, toolkit = churn_project(_On(request, engine), tmp_path, run_cli, FILES)
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")
    assert production(read) == [(2,)]
    toolkit(*PINS[pin])
    assert production(read) == [(1,)]
    return root, read, toolkit


@pytest.fixture(params=[("duckdb", "rollback"), ("duckdb", "promote"), ("postgres", "rollback")],
                ids=lambda p: "-".join(p))
def pinned(request, tmp_path, run_cli):
    engine, pin = request.param
    return (*pin_version_1(request, tmp_path, run_cli, engine, pin), pin)


@pytest.fixture
def rolled_back(request, tmp_path, run_cli):
    return pin_version_1(request, tmp_path, run_cli, "duckdb", "rollback")


@pytest.fixture
def promoted_by_hand(request, tmp_path, run_cli):
    return pin_version_1(request, tmp_path, run_cli, "duckdb", "promote")


def held_version_3(root, read, toolkit) -> None:
    """New code (version 3) whose scoring fails this once: held, version 1 stays production."""
    write_files(root, {"models/churn.py": MODEL.format(c="0.25"), "features/sc.sql": FAILING_SC})
    out = toolkit("run", expect=1)
    assert "entirely NULL" in out, out
    assert read("select version, status from toolkit.model_versions where model = 'churn' order by version") == [
        (1, "production"), (2, "archived"), (3, "candidate")]
    (held,) = read("select version, reason from toolkit.model_status_history where model = 'churn' and action = 'hold'")
    assert held[0] == 3 and "not promoted (promote='auto': passed its gates): the step failed with it" in held[1], held


def plan_line(toolkit) -> str:
    return next(line for line in toolkit("plan").splitlines() if line.startswith("churn "))


def test_a_version_held_after_a_manual_choice_is_promoted_by_the_next_good_run(pinned):
    root, read, toolkit, pin = pinned
    held_version_3(root, read, toolkit)

    write_files(root, {"features/sc.sql": FILES["features/sc.sql"]})  # scoring fixed
    line = plan_line(toolkit)
    assert ("re-score with registered version 3, no training (model code changed; version 3 has its training "
            "fingerprint), then promoted to production") in line, line
    assert "production stays" not in line, line
    toolkit("run")
    action, reason = churn_step(read)
    assert action == "score" and "promoted (held in run" in reason, reason
    assert production(read) == [(3,)] and scored_with(read, "predictions.churn") == [(3,)]
    assert read("select count(*) from toolkit.model_versions where model = 'churn'") == [(3,)]  # nothing trained

    toolkit("run")  # and it stays
    assert production(read) == [(3,)] and scored_with(read, "predictions.churn") == [(3,)]
    if pin == "rollback":  # the rollback after it goes back to the version the person chose
        toolkit("models", "rollback", "churn")
        assert production(read) == [(1,)]
        assert "production stays version 1 (set by `toolkit models rollback`)" in plan_line(toolkit)
        toolkit("run")
        assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]


def test_without_the_failure_the_same_change_is_promoted_too(rolled_back):
    """The path the held one now agrees with: the new code's version, scored at once."""
    root, read, toolkit = rolled_back
    write_files(root, {"models/churn.py": MODEL.format(c="0.25")})
    assert "train a new version (model code changed)" in plan_line(toolkit)
    toolkit("run")
    assert production(read) == [(3,)] and scored_with(read, "predictions.churn") == [(3,)]


def test_a_choice_made_after_the_hold_holds(promoted_by_hand):
    """A person chose production after version 3 was held: their choice wins, and the plan says so."""
    root, read, toolkit = promoted_by_hand
    held_version_3(root, read, toolkit)
    toolkit("models", "promote", "churn", "2")

    write_files(root, {"features/sc.sql": FILES["features/sc.sql"]})
    line = plan_line(toolkit)
    assert "re-score with registered version 2" in line and "production stays version 2 (set by `toolkit models promote`)" in line, line
    toolkit("run")
    assert production(read) == [(2,)] and scored_with(read, "predictions.churn") == [(2,)]
    assert "production stays version 2 (set by `toolkit models promote`)" in churn_step(read)[1]


def test_a_version_chosen_after_a_rollback_by_a_run_killed_outright_is_promoted(rolled_back):
    """A run killed before publishing writes no 'hold' (its row deleted here, as a kill
    leaves it): the version its policy chose after the rollback is promoted all the same."""
    from test_models import execute

    root, read, toolkit = rolled_back
    held_version_3(root, read, toolkit)
    execute(root, "delete from toolkit.model_status_history where action = 'hold'")

    write_files(root, {"features/sc.sql": FILES["features/sc.sql"]})
    assert "then promoted to production" in plan_line(toolkit)
    toolkit("run")
    assert production(read) == [(3,)] and scored_with(read, "predictions.churn") == [(3,)]
    assert "promoted (chosen in run" in churn_step(read)[1]
