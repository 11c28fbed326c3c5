"""Where every command's output goes: rich on a terminal, plain lines in a pipe, JSON
lines for schedulers (`--log-format json`), nothing in tests. The core and the CLI
only call these methods; nothing else prints.

A run reports through the run events; every other command through `show(text,
events)`: the text a person reads and the same facts as JSON events."""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

STATUS_STYLE = {"success": "green", "reused": "cyan", "failed": "red", "skipped": "yellow"}


class Console:
    """Silent: the default for library use and tests."""

    def run_started(self, run_id: int, target: str, steps: int) -> None: ...
    def step_started(self, name: str) -> None: ...
    def step_finished(self, result) -> None: ...
    def step_progress(self, name: str, phase: str, seconds: float) -> None:
        """A long step's current phase (a model: reading, fitting candidate k of n, scoring)."""
    def run_finished(self, summary) -> None: ...
    def waiting(self, holder: str) -> None: ...
    def show(self, text: str, events: list[dict] = ()) -> None: ...


def _counts(summary) -> str:
    counts: dict[str, int] = {}
    for result in summary.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to do"


class PlainConsole(Console):
    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        # Build workers report progress while the scheduling thread reports finished steps:
        # each line is one write under a lock (print writes the newline apart, and two
        # threads' lines interleaved into one broken JSON line).
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def show(self, text, events=()):
        if text:
            self._say(text)

    def run_started(self, run_id, target, steps):
        self._say(f"run {run_id} on {target}: {steps} step(s)")

    def waiting(self, holder):
        print(f"waiting for {holder} ...", file=sys.stderr, flush=True)

    def step_progress(self, name, phase, seconds):
        self._say(f"           {name}: {phase} ({seconds:.1f}s)")

    def step_finished(self, result):
        unit = "" if getattr(result, "rows_trained", None) is not None else " rows"
        rows = f" {rows_text(result)}{unit}" if result.rows_written is not None else ""
        error = f": {result.error}" if result.error else ""
        self._say(f"  {result.status:<8} {result.step} ({result.action}{rows}, {result.seconds:.2f}s){error}")
        for outcome in result.tests:
            if outcome.status == "warn":
                self._say(f"           warning {result.step}: {outcome.describe()}")
        for alert in getattr(result, "alerts", ()):
            self._say(f"           {alert}")

    def run_finished(self, summary):
        rows = [("step", "action", "status", "rows", "seconds")]
        for r in summary.results:
            rows.append((r.step, r.action, r.status, rows_text(r), f"{r.seconds:.2f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            self._say("  " + "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        self._say(f"run {summary.run_id} finished in {summary.seconds:.2f}s: {_counts(summary)}")


def rows_text(result, separator: str = "") -> str:
    """Rows written; a model that trained says what it scored and what it trained on."""
    if result.rows_written is None:
        return ""
    written = f"{result.rows_written:{separator}}"
    trained = getattr(result, "rows_trained", None)
    return written if trained is None else f"{written} scored, {trained:{separator}} trained"


class JsonConsole(PlainConsole):
    def _emit(self, event: str, **fields) -> None:
        self._say(json.dumps({"event": event, **fields}, default=str))

    def show(self, text, events=()):
        for event in events:
            self._say(json.dumps(event, default=str))

    def run_started(self, run_id, target, steps):
        self._emit("run_started", run_id=run_id, target=target, steps=steps)

    def waiting(self, holder):
        self._emit("waiting", holder=holder)

    def step_started(self, name):
        self._emit("step_started", step=name)

    def step_progress(self, name, phase, seconds):
        self._emit("step_progress", step=name, phase=phase, seconds=round(seconds, 3))

    def step_finished(self, result):
        fields = {k: v for k, v in result.__dict__.items() if k not in ("started_at", "finished_at", "tests", "details")}
        fields["tests"] = [{"test": o.test.label, "status": o.status, "failing_rows": o.failing} for o in result.tests]
        self._emit("step_finished", **fields)

    def run_finished(self, summary):
        self._emit("run_finished", run_id=summary.run_id, ok=summary.ok, seconds=round(summary.seconds, 3))


class RichConsole(Console):
    def __init__(self):
        from rich.console import Console as RichOut
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.out = RichOut()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=self.out, transient=True,
        )
        self.task = None

    def waiting(self, holder):
        self.out.print(f"[yellow]waiting for {holder} ...[/]")

    def show(self, text, events=()):
        if text:
            self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    def run_started(self, run_id, target, steps):
        self.out.print(f"run [bold]{run_id}[/] on {target}: {steps} step(s)")
        self.progress.start()
        self.task = self.progress.add_task("building", total=steps)

    def step_progress(self, name, phase, seconds):
        if self.task is not None:
            self.progress.update(self.task, description=f"{name}: {phase}")

    def step_finished(self, result):
        if self.task is not None:
            self.progress.advance(self.task)
        if result.status == "failed":
            self.progress.console.print(f"[red]failed[/] {result.step}: {result.error}")
        for outcome in result.tests:
            if outcome.status == "warn":
                self.progress.console.print(f"[yellow]warning[/] {result.step}: {outcome.describe()}")
        for alert in getattr(result, "alerts", ()):
            from rich.markup import escape

            self.progress.console.print(f"[yellow]{escape(result.step)}[/]: {escape(alert)}", highlight=False)

    def run_finished(self, summary):
        from rich.table import Table

        self.progress.stop()
        table = Table(title=f"run {summary.run_id} on {summary.target}", show_edge=False)
        for column in ("step", "action", "status", "rows", "seconds"):
            table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
        for r in summary.results:
            style = STATUS_STYLE.get(r.status, "")
            rows = rows_text(r, ",")
            table.add_row(r.step, r.action, f"[{style}]{r.status}[/]", rows, f"{r.seconds:.2f}")
        self.out.print(table)
        colour = "green" if summary.ok else "red"
        self.out.print(f"[{colour}]{_counts(summary)}[/] in {summary.seconds:.2f}s")


def make_console(log_format: str) -> Console:
    if log_format == "json":
        return JsonConsole()
    if sys.stdout.isatty():
        return RichConsole()
    return PlainConsole()
