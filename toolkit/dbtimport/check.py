"""The converted project, compiled: each step that stops `toolkit compile` (Jinja or SQL
toolkit does not take: {% do %}, log(), modules, run_started_at, graph, ...) is listed in
the report as not converted, at its line, and the compile's result is the report's Check.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.dbtimport.report import Report
from toolkit.errors import ProjectError

_MAX_SET_ASIDE = 200  # steps set aside to compile the others; past it, the report names the first error only


def check_converted(out: Path, report: Report) -> str:
    """Compile the converted project. Each step that stops the compile (Jinja or SQL
    toolkit does not take: {% do %}, log(), modules, ...) is reported as not converted at
    its line, set aside and the compile repeated, so one step's error hides no other's;
    the files are all put back. Then: that it compiles, or where the compile stops."""
    from toolkit.compiler import compile_project

    out = out.resolve()
    aside: dict[Path, str] = {}  # the steps set aside, in order -> their text
    first = None
    try:
        while True:
            try:
                compiled = compile_project(out)
                break
            except ProjectError as error:
                first = first or error
                path = _failing_step(out, error)
                if path is None or len(aside) >= _MAX_SET_ASIDE:
                    return f"`toolkit compile` of the converted project stops at: {first}" + _others(aside, error, first)
                _report_step(out, path, error, aside, report)
                aside[path] = path.read_text(encoding="utf-8")
                path.unlink()
    finally:
        for path, text in aside.items():
            path.write_text(text, encoding="utf-8")
    steps = sum(1 for step in compiled.steps.values() if step.kind != "seed")
    if first is None:
        return f"the converted project compiles: {steps} steps, {len(compiled.steps) - steps} seeds"
    return (f"`toolkit compile` of the converted project stops at: {first}; {len(aside)} steps do not compile (each listed "
            f"above); without them it compiles: {steps} steps, {len(compiled.steps) - steps} seeds")


def _others(aside: dict, error: ProjectError, first: ProjectError) -> str:
    if not aside:
        return ""
    return f"; {len(aside)} steps that do not compile are listed above, and without them it stops at: {error}" if error is not first else ""


def _failing_step(out: Path, error: ProjectError) -> Path | None:
    """The step file (features/**.sql, not a macro or test) an error of compiling `out` is in;
    an error in a macro: the step whose rendering raises it. None for any other error."""
    if not error.file:
        return None
    path = out / error.file
    parts = Path(error.file).parts
    if parts[:1] == ("features",) and parts[1:2] not in (("macros",), ("tests",)) and path.suffix == ".sql" and path.is_file():
        return path
    if parts[:2] != ("features", "macros"):
        return None
    try:  # each step rendered alone: the first one raising this error
        from toolkit.compiler import make_renderer
        from toolkit.compiling.nameindex import _NameIndex
        from toolkit.project import load_project

        project = load_project(out)
        renderer = make_renderer(project, _NameIndex(project))
        for step in project.steps.values():
            if step.path.suffix != ".sql":
                continue
            try:
                renderer.render(step.path, step.name, this=f"features.{step.name}")
            except ProjectError as raised:
                if str(raised) == str(error):
                    return step.path
    except ProjectError:
        return None
    return None


def _report_step(out: Path, path: Path, error: ProjectError, aside: dict, report: Report) -> None:
    """The step at `path` as not converted, at the line of the dbt file it was converted from
    (of the dbt macro, where the error is in one): the line a dbt user knows."""
    name, where = path.stem, error.location if error.file and Path(error.file) == path.relative_to(out) else path.relative_to(out).as_posix()
    unread = next((p.stem for p in aside if f"ref('{p.stem}')" in error.message), None)
    if unread is not None:
        why = f"reads {unread}, which does not compile (above)"
    else:
        why = f"`toolkit compile` stops here: {error.message}" + (f" ({error.hint})" if error.hint else "")
        if error.location != where:
            why += f" (at {report.dbt_location(error.location)})"
    report.skip("model", name, report.dbt_location(where), why + "; the step is in features/ as converted, to be rewritten")
