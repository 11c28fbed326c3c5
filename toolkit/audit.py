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
from toolkit.engines import connect
from toolkit.execute import published_relation, run_source_tests
from toolkit.state import State


@dataclass
class AuditResult:
    run_id: int
    outcomes: list[tuple[str, str, Outcome]] = field(default_factory=list)  # (name, kind, outcome)
    not_built: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status != "fail" for _, _, o in self.outcomes)


def test_published(compiled: CompiledProject, target_name: str | None, select=(), exclude=(), lock_timeout: float = 10.0) -> AuditResult:
    config = compiled.project.config
    target = config.target(target_name)
    selected = compiled.dag.select(select, exclude)
    engine = connect(target, config.root, lock_timeout)
    try:
        state = State(engine)
        state.ensure()
        published = state.published()
        run_id = state.start_run(config.name, target.name, "test")
        result = AuditResult(run_id)
        sources = sorted({key for name in selected for key in compiled.steps[name].sources})
        for key, outcomes in run_source_tests(engine, compiled, sources).items():
            result.outcomes += [(key, "source", o) for o in outcomes]
        def relation_of(name):
            return published_relation(compiled, name)

        for name in [n for n in compiled.dag.order() if n in selected and compiled.steps[n].data_tests]:
            if name not in published:
                result.not_built.append(name)
                continue
            outcomes = run_tests(engine, compiled.steps[name].relation, compiled.steps[name].data_tests, compiled.dialect, relation_of)
            result.outcomes += [(name, "step", o) for o in outcomes]
        state.record_tests(run_id, [result_row(name, kind, o) for name, kind, o in result.outcomes])
        state.finish_run(run_id, "success" if result.ok else "failed")
    finally:
        engine.close()
    return result

