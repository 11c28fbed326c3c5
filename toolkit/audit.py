"""`toolkit test`: run data tests on what is published, without building anything.

The tests are the ones `toolkit run` runs before publishing (config tests and
table_tests of steps, tests and freshness of sources); here they check the
published relations as they are now, e.g. after a source changed. Results go to
toolkit.test_results under a run of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.compiler import CompiledProject
from toolkit.datatests import Outcome, result_row, run_tests
from toolkit.errors import ProjectError
from toolkit.materialize import refuse_mismatched
from toolkit.sources import check_sources, published_relation, run_source_tests, source_table
from toolkit.fingerprint import fingerprint_steps
from toolkit.session import Access, open_session


@dataclass
class AuditResult:
    run_id: int
    outcomes: list[tuple[str, str, Outcome]] = field(default_factory=list)  # (name, kind, outcome)
    not_built: list[str] = field(default_factory=list)
    outdated: list[tuple[str, str]] = field(default_factory=list)  # (step, why today's tests cannot run on what an older definition published)
    older: list[str] = field(default_factory=list)  # tested, though an older definition published it
    unrunnable: list[tuple[str, str]] = field(default_factory=list)  # (step, the engine's refusal of its tests' queries)
    unloaded: list[str] = field(default_factory=list)  # file sources no step reads: no run loads their files

    @property
    def ok(self) -> bool:
        """No test failed and none was left untested on a table readers see (a green
        `toolkit test` must mean the published tables were checked)."""
        return all(o.status != "fail" for _, _, o in self.outcomes) and not self.outdated and not self.unrunnable


def test_published(compiled: CompiledProject, target_name: str | None, select=(), exclude=(), lock_timeout: float = 10.0,
                   console=None) -> AuditResult:
    """Reads only: where the engine lets readers in (PostgreSQL), it runs beside a run."""
    select, named_sources = _named_sources(compiled, select)
    exclude, excluded_sources = _named_sources(compiled, exclude)
    selected = compiled.dag.select(select, exclude) if select or not named_sources else set()
    with open_session(compiled.project.config, target_name, access=Access.READ, lock_timeout=lock_timeout, console=console) as session:
        state = session.state
        state.ensure()
        published = state.published()
        run_id = session.start_run("test")
        try:
            result = _audit(session.engine, compiled, selected, published, run_id,
                            every_source=not select and not named_sources, named_sources=named_sources,
                            excluded_sources=excluded_sources)
        except BaseException:
            state.finish_run(run_id, "failed")
            raise
        state.record_tests(run_id, [result_row(name, kind, o) for name, kind, o in result.outcomes])
        state.finish_run(run_id, "success" if result.ok else "failed")
    return result


def _named_sources(compiled: CompiledProject, values) -> tuple[tuple[str, ...], list[str]]:
    """--select (--exclude) words that are a source's key (`app.raw`, in any case): that
    source's tests are run (not run); the other words choose steps as everywhere."""
    keys = {key.lower(): key for key in compiled.project.sources}
    steps, sources = [], []
    for value in values:
        words = value.split()
        sources += [keys[w.lower()] for w in words if w.lower() in keys]
        rest = [w for w in words if w.lower() not in keys]
        if rest:
            steps.append(" ".join(rest))
    return tuple(steps), sources


def _audit(engine, compiled: CompiledProject, selected: set[str], published: dict, run_id: int,
           every_source: bool = False, named_sources=(), excluded_sources=()) -> AuditResult:
    """Today's tests on what is published; a table built from another definition is
    reported, not tested (its columns may differ from what the tests expect). The sources
    the selected steps read are tested, and, without --select (`every_source`),
    also those no step reads: their tests were declared to be run."""
    result = AuditResult(run_id)
    compiled = check_sources(engine, compiled, selected)  # a table source that is missing: exit 2
    sources = sorted({key for name in selected for key in compiled.steps[name].sources} - set(excluded_sources))
    named = [k for k in named_sources if k not in sources]
    left_out = set(sources) | set(excluded_sources)  # tested above, or --exclude named them
    unread = _unread_tested_sources(engine, compiled, left_out, result, named if not every_source else None)
    unloaded = [k for k in sources if compiled.source_tests.get(k) and compiled.project.sources[k].path and engine.columns(source_table(compiled, k)) is None]
    result.not_built += [f"source {key}" for key in unloaded]  # a file source no run has read in yet
    for key, outcomes in run_source_tests(engine, compiled, [k for k in sources if k not in unloaded] + unread).items():
        result.outcomes += [(key, "source", o) for o in outcomes]
    definitions = fingerprint_steps(compiled, compiled.dag.order(), {}, {}, engine.semantics)
    for name in [n for n in compiled.dag.order() if n in selected and compiled.steps[n].data_tests]:
        if name not in published:
            result.not_built.append(name)
            continue
        step = compiled.steps[name]
        relation_of = lambda other: published_relation(compiled, other)  # noqa: E731
        current = published[name].definition == definitions[name].definition
        # Built from another definition (say, the last run's rebuild failed its tests and the
        # older table stayed): today's tests still judge what readers see, where they can run
        # on it; where its columns differ (a test's column is gone), it is reported untested.
        try:
            refuse_mismatched(engine, step, step.relation, step.data_tests)  # as a run does: exit 2 at the test
            outcomes = run_tests(engine, step.relation, step.data_tests, compiled.dialect, relation_of)
        except ProjectError:
            raise
        except Exception as error:  # noqa: BLE001 - the engine's refusal is the reason it is untested
            from toolkit import interrupts
            from toolkit.errors import engine_message

            if interrupts.explains(error):  # Ctrl-C stopped the query: the command ends "aborted"
                raise
            (result.unrunnable if current else result.outdated).append((name, engine_message(error)))
            continue
        result.outcomes += [(name, "step", o) for o in outcomes]
        if not current:
            result.older.append(name)
    return result


def _unread_tested_sources(engine, compiled: CompiledProject, read: set[str], result: AuditResult,
                           only: list[str] | None) -> list[str]:
    """The sources with tests that no selected step reads (of `only`, when given) and that
    exist, to be tested; a missing table is an error of `toolkit test` (its tests cannot
    run), and a file source's files are loaded only by a run that reads them."""
    testable = []
    for key in sorted(k for k, tests in compiled.source_tests.items() if tests and k not in read and (only is None or k in only)):
        source = compiled.project.sources[key]
        if source.path:
            if engine.columns(source_table(compiled, key)) is None:
                result.unloaded.append(key)
                continue
        elif engine.columns(source_table(compiled, key)) is None:
            result.unrunnable.append((f"source {key}", f"table {source.schema}.{source.table} does not exist in the target"))
            continue
        testable.append(key)
    return testable
