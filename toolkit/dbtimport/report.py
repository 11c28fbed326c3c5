"""What an import converted and what it could not, with the reason: IMPORT_REPORT.md
and a short summary for the terminal. Items with one reason are grouped, so a
500-model project with one unsupported config key gives one line, not 500."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Report:
    project: str = ""
    converted: Counter = field(default_factory=Counter)
    # (kind, why) -> [(what, where)]: one group per reason
    skipped: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    check: str = ""  # the converted project's compile result
    # converted file (relative to the toolkit project) -> (its dbt file, line_map of its lines)
    origins: dict[str, tuple[str, list[tuple[int, bool] | None]]] = field(default_factory=dict)

    def count(self, kind: str, n: int = 1) -> None:
        self.converted[kind] += n

    def skip(self, kind: str, what: str, where: str, why: str) -> None:
        """Something not converted (or converted with a loss): what, where and why."""
        items = self.skipped.setdefault((kind, why), [])
        if (what, where) not in items:
            items.append((what, where))

    def converted_from(self, converted: str, dbt_file: str, dbt_text: str, converted_text: str) -> None:
        """Remember that `converted` was written from `dbt_file`, line by line, so that what is
        found in the converted file (check.py) is reported at the dbt file's line."""
        self.origins[converted] = (dbt_file, line_map(dbt_text, converted_text))

    def dbt_location(self, location: str) -> str:
        """'features/m.sql:4[:col]' -> 'models/m.sql:3[:col]' where the file was converted from one;
        the column only where the line was kept as dbt wrote it. Any other location as it is."""
        match = _LOCATION.match(location)
        if match is None or match.group(1) not in self.origins:
            return location
        file, lines = self.origins[match.group(1)]
        if match.group(2) is None:
            return file
        number = int(match.group(2))
        found = lines[number - 1] if 0 < number <= len(lines) else None
        if found is None:
            return file
        line, unchanged = found
        return f"{file}:{line}" + (f":{match.group(3)}" if unchanged and match.group(3) else "")

    @property
    def not_converted(self) -> int:
        return sum(len(items) for items in self.skipped.values())

    def markdown(self, source: str, out: str) -> str:
        lines = [f"# import-dbt report: {self.project}", "", f"From `{source}` into `{out}`.", "", "## Converted", ""]
        lines += [f"- {n} {kind}" for kind, n in sorted(self.converted.items())] or ["- nothing"]
        lines += ["", "## Not converted, or converted with a difference", ""]
        if not self.skipped:
            lines.append("Everything was converted.")
        else:
            lines += ["| kind | why | what (where) |", "|---|---|---|"]
            for (kind, why), items in sorted(self.skipped.items()):
                shown = "<br>".join(f"{_cell(what)} (`{where}`)" if where else _cell(what) for what, where in items[:50])
                more = f"<br>and {len(items) - 50} more" if len(items) > 50 else ""
                lines.append(f"| {kind} | {_cell(why)} | {shown}{more} |")
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        lines += ["", "## Check", "", self.check or "not checked", ""]
        return "\n".join(lines)

    def summary(self, report_path: str) -> str:
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.converted.items())) or "nothing"
        lines = [f"converted dbt project {self.project}: {done}"]
        if self.skipped:
            lines.append(f"not converted ({self.not_converted}):")
            for (kind, why), items in sorted(self.skipped.items())[:15]:
                names = list(dict.fromkeys(what for what, _ in items))
                shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
                lines.append(f"  {kind} {shown}: {why}")
            if len(self.skipped) > 15:
                lines.append(f"  ... {len(self.skipped) - 15} more")
        lines.append(self.check)
        lines.append(f"report: {report_path}")
        return "\n".join(line for line in lines if line)


_LOCATION = re.compile(r"^(.+?)(?::(\d+))?(?::(\d+))?$")


def line_map(before: str, after: str) -> list[tuple[int, bool] | None]:
    """For each line of `after`, (the line of `before` it was made from, whether unchanged):
    a rewritten or added line (a config() written in) stands at the dbt line where it is."""
    old, new = before.splitlines(), after.splitlines()
    found: list[tuple[int, bool] | None] = [None] * len(new)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        for j in range(j1, j2):
            if tag == "equal":
                found[j] = (i1 + (j - j1) + 1, True)
            elif old:
                found[j] = ((min(i1 + (j - j1), i2 - 1) if tag == "replace" else min(i1, len(old) - 1)) + 1, False)
    return found


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
