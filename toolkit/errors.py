"""One root error, a handful of kinds, each mapped to a CLI exit code.

A `ProjectError` is a user mistake (config, template, SQL, cycle, missing ref): it
carries the file, line and column it points at and, when obvious, a fix.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path


class ToolkitError(Exception):
    """Root of every error toolkit raises on purpose."""

    exit_code = 1


class ProjectError(ToolkitError):
    """The project or the command is wrong; nothing was run. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
    ):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.col = col
        self.hint = hint
        super().__init__(str(self))

    @property
    def location(self) -> str:
        parts = [p for p in (self.file, self.line, self.col) if p is not None]
        return ":".join(str(p) for p in parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} ({self.hint})" if self.hint else text


class SourceColumnsUnknown(ProjectError):
    """A Python step reads a table source whose columns nothing has read from the catalog
    yet, or a step reads a column the remembered columns of the table sources it reads
    lack (sourcecolumns.py): a command reads them and compiles again (cli._compile); the
    error stands where they were read already. `source`: one source key or several."""

    def __init__(self, source: str | tuple[str, ...], message: str, file: str | Path | None = None, line: int | None = None,
                 hint: str | None = None, col: int | None = None):
        super().__init__(message, file, line, col, hint=hint)
        self.sources = (source,) if isinstance(source, str) else tuple(source)
        self.source = self.sources[0]


class TemplateCallError(Exception):
    """A template called a toolkit function wrongly (ref(), as_of_join(), a dbt macro):
    templating.py reports it as a ProjectError at the template's file and line. `at_caller`:
    at the line calling the macro it was raised in, not that macro's (a macro toolkit wrote,
    standing for a call the user wrote: import-dbt's dbt_import_source)."""

    def __init__(self, message: str, hint: str | None = None, at_caller: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.at_caller = at_caller


class StepFailed(ToolkitError):
    """A step or a blocking data test failed while running. Exit code 1."""

    exit_code = 1


class TargetBusy(ToolkitError):
    """Another process holds the target past the lock timeout. Exit code 3: retry."""

    exit_code = 3


def did_you_mean(name: str, candidates) -> str | None:
    """'did you mean X?' for the closest candidate, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def line_of(text: str, needle: str, start_line: int = 1) -> int | None:
    """1-based number of the first line at or after `start_line` containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= start_line and needle in line:
            return number
    return None


# ADBC's PostgreSQL driver wraps the server's message: "IO: [libpq] Failed to execute query
# 'drop view ...': ERROR:  <message>" (the query may span lines), ". SQLSTATE: 2BP01" at the end.
_ADBC_WRAPPER = re.compile(r"^[A-Z_]+: (?:\[libpq\] )?Failed to (?:execute|prepare) query(?: '.*?')?: "
                           r"(?:could not begin COPY: )?ERROR:\s+", re.S)


def engine_message(error: Exception) -> str:
    """The engine's own first line (its SQL excerpt names physical tables, not the user's)."""
    server = _postgres_message(error)
    if server:
        return server
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    csv = _csv_message(lines)
    if csv:
        return csv
    # PostgreSQL names what blocks a DROP (an analyst's view on a published one) in its DETAIL
    detail = next((line for line in lines[1:] if line.startswith("DETAIL:") and "depends on" in line), None)
    return f"{lines[0]} ({detail.removeprefix('DETAIL:').strip()})" if detail else lines[0]


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)", re.IGNORECASE)


def _csv_message(lines: list[str]) -> str | None:
    """DuckDB's CSV reader names the file and the column only further down its message:
    "<file>:<line>: <what>" instead of "Conversion Error: CSV Error on Line: 4"."""
    where = _CSV_LINE.search(lines[0])
    file = next((line.removeprefix("file =").strip() for line in lines if line.startswith("file =")), None)
    if where is None or not file:
        return None
    what = next((line for line in lines[1:] if line.startswith("Error when converting column")), None)
    what = what or next((line for line in lines[1:] if not line.startswith("Original Line")), lines[0])
    return f"{file}:{where.group(1)}: {what}"


def _diagnostics(error: Exception) -> list:
    """The (key, value) pairs ADBC attaches as `details`. A failed model step's error carries its
    run record there instead (modelrun.held_back: a JSON string), which has no pairs: unpacked
    as pairs, it made the step's own failure an internal error of the run."""
    details = getattr(error, "details", None)
    if not isinstance(details, (list, tuple)):
        return []
    return [pair for pair in details if isinstance(pair, (tuple, list)) and len(pair) == 2]


def _postgres_message(error: Exception) -> str | None:
    """PostgreSQL's own message, with its DETAIL and HINT, out of ADBC's wrapper (from the
    diagnostics the driver attaches, else from its text), or None for another engine's."""
    fields = {key.decode(): value.decode(errors="replace") for key, value in _diagnostics(error)
              if isinstance(key, bytes) and isinstance(value, bytes)}
    if "PG_DIAG_MESSAGE_PRIMARY" not in fields:
        text = str(error).strip()
        match = _ADBC_WRAPPER.match(text)
        if not match:
            return None
        lines = [re.sub(r"\.? SQLSTATE: \w+$", "", line).strip() for line in text[match.end():].splitlines()]
        fields = {f"PG_DIAG_MESSAGE_{kind}": line.split(":", 1)[1].strip()
                  for line in lines[1:] for kind in ("DETAIL", "HINT") if line.startswith(f"{kind}:")}
        fields["PG_DIAG_MESSAGE_PRIMARY"] = lines[0]
    # "Use DROP ... CASCADE" would drop someone's view: toolkit's own hint says what to do instead.
    extra = [fields[key] for key in ("PG_DIAG_MESSAGE_DETAIL", "PG_DIAG_MESSAGE_HINT")
             if fields.get(key) and not fields[key].startswith("Use DROP ... CASCADE")]
    primary = fields["PG_DIAG_MESSAGE_PRIMARY"]
    return f"{primary} ({'; '.join(extra)})" if extra else primary
