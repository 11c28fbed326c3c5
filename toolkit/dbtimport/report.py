"""What an import converted and what it could not, with the reason: IMPORT_REPORT.md
and a short summary for the terminal. Items with one reason are grouped, so a
500-model project with one unsupported config key gives one line, not 500."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Report:
    project: str = ""
    converted: Counter = field(default_factory=Counter)
    # (kind, what, why) -> places (file or file:line)
    skipped: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    check: str = ""  # the converted project's compile result

    def count(self, kind: str, n: int = 1) -> None:
        self.converted[kind] += n

    def skip(self, kind: str, what: str, where: str, why: str) -> None:
        """Something not converted (or converted with a loss): what, where and why."""
        places = self.skipped.setdefault((kind, what, why), [])
        if where and where not in places:
            places.append(where)

    @property
    def not_converted(self) -> int:
        return sum(max(1, len(places)) for places in self.skipped.values())

    def markdown(self, source: str, out: str) -> str:
        lines = [f"# import-dbt report: {self.project}", "", f"From `{source}` into `{out}`.", "", "## Converted", ""]
        lines += [f"- {n} {kind}" for kind, n in sorted(self.converted.items())] or ["- nothing"]
        lines += ["", "## Not converted, or converted with a difference", ""]
        if not self.skipped:
            lines.append("Everything was converted.")
        else:
            lines += ["| kind | what | where | why |", "|---|---|---|---|"]
            for (kind, what, why), places in sorted(self.skipped.items()):
                shown = ", ".join(f"`{p}`" for p in places[:8]) + (f" and {len(places) - 8} more" if len(places) > 8 else "")
                lines.append(f"| {kind} | {_cell(what)} | {shown} | {_cell(why)} |")
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        lines += ["", "## Check", "", self.check or "not checked", ""]
        return "\n".join(lines)

    def summary(self, report_path: str) -> str:
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.converted.items())) or "nothing"
        lines = [f"converted dbt project {self.project}: {done}"]
        if self.skipped:
            lines.append(f"not converted ({self.not_converted}):")
            for (kind, what, why), places in sorted(self.skipped.items())[:15]:
                where = f" ({len(places)}: {', '.join(places[:3])}{', ...' if len(places) > 3 else ''})" if places else ""
                lines.append(f"  {kind}: {what}{where}: {why}")
            if len(self.skipped) > 15:
                lines.append(f"  ... {len(self.skipped) - 15} more")
        lines.append(self.check)
        lines.append(f"report: {report_path}")
        return "\n".join(line for line in lines if line)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
