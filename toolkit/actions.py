"""What the plan decides for a step, as values: an `Action` and the `Reason` for it.

    Action   build | rebuild | reuse | incremental | inline | test | unpublish
    Reason   (kind, detail[, then]): kind is a `ReasonKind`; detail the few words
             that go with it (a SQL diff, the inputs that changed, a date); `then` a
             second reason that also holds (schedule due / not due, source data
             changed beside upstream)

Nothing here renders text: explain.py turns a reason into the words `toolkit plan`
prints and the JSON a scheduler reads (keyed on `kind`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Action(str, Enum):
    BUILD = "build"  # new: nothing published yet
    REBUILD = "rebuild"  # a new physical relation replaces the published one
    REUSE = "reuse"  # the published relation stays (or is published into another environment)
    INCREMENTAL = "incremental"  # new rows go into the published physical table
    INLINE = "inline"  # ephemeral: never built, inlined into its readers
    UNPUBLISH = "unpublish"  # a published step whose file is gone
    TEST = "test"  # data unchanged, data tests (or what only they read) changed: re-run them on the published table

    def __str__(self) -> str:
        return self.value

    @property
    def builds(self) -> bool:
        return self in (Action.BUILD, Action.REBUILD)

    @property
    def writes_data(self) -> bool:
        """Builds a new physical relation or adds rows to the published one."""
        return self in (Action.BUILD, Action.REBUILD, Action.INCREMENTAL)


class ReasonKind(str, Enum):
    NEW = "new"
    FORCED = "forced"
    PHYSICAL_MISSING = "physical_missing"
    PUBLISHED_MISSING = "published_missing"
    UNCHANGED = "unchanged"
    SQL_CHANGED = "sql_changed"
    CONFIG_CHANGED = "config_changed"
    FILE_CHANGED = "file_changed"
    CODE_CHANGED = "code_changed"
    UPSTREAM_CHANGED = "upstream_changed"
    UPSTREAM_REBUILT = "upstream_rebuilt"
    # a step only its data tests read (a custom test's other steps, a relationships parent) changed:
    # it is built after them, but not from them; when nothing else changed, those tests re-run on
    # its published table (Action.TEST, Materialization.retest_for_tests_inputs)
    TESTS_INPUT_CHANGED = "tests_input_changed"
    REPOINT = "repoint"  # a view the run did not select, re-created over the table it builds for an upstream
    # a re-pointed view whose file was edited since it was published: re-created from its
    # published SQL, the edits (detail: their diff) left for a run that selects it
    UNPUBLISHED_EDITS = "unpublished_edits"
    SOURCE_CHANGED = "source_changed"
    DEFINITION_CHANGED = "definition_changed"
    PRODUCTION_CHANGED = "production_changed"  # a model: another version is production (promoted, rolled back by hand)
    SCHEDULE_DUE = "schedule_due"
    NOT_DUE = "not_due"
    NEW_ROWS = "new_rows"
    # an incremental step's query now makes a column in another type than its table holds (a
    # source column retyped): rebuilt from scratch, as its new rows cannot go into the old types
    RETYPED = "retyped"
    BACKFILL = "backfill"
    HELD = "held"
    NO_BACKFILL = "no_backfill"
    EPHEMERAL = "ephemeral"
    DELETED = "deleted"  # a published step whose file is gone
    TESTS_CHANGED = "tests_changed"
    # kept as published (not due, unchanged), but a blocking custom test it runs reads a step this run
    # writes (detail: test file -> those steps): re-run on its published table, holding their publish
    TEST_READS_WRITTEN = "test_reads_written"
    CLOCK = "clock"  # data unchanged; a freshness test's answer moves with the clock: run it again
    VOLATILE = "volatile"  # its SQL reads the clock or randomness (now(), random()): its data moves with every run

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Reason:
    kind: ReasonKind
    detail: str = ""
    then: Reason | None = None  # a second reason that also holds

    def and_then(self, other: Reason | None) -> Reason:
        """This reason with `other` appended (at the end of the chain)."""
        if other is None:
            return self
        return Reason(self.kind, self.detail, other if self.then is None else self.then.and_then(other))

    def kinds(self) -> list[ReasonKind]:
        return [self.kind] + (self.then.kinds() if self.then else [])


@dataclass(frozen=True)
class Decision:
    """A strategy's answer for one step: the action, why, and (for reuses that keep
    what is published) the fingerprints it keeps, or the intervals a backfill fills."""

    action: Action
    reason: Reason
    keeps_recorded: bool = False  # the published fingerprints stay (a reuse whose inputs changed but is not due)
    backfill: tuple[tuple[datetime, datetime], ...] = field(default_factory=tuple)
    # a view re-pointed at an upstream's new table: it computes nothing, so when its data was
    # last computed (its schedule's clock) stays as recorded
    keeps_schedule: bool = False
