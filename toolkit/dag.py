"""The step graph: dependency order, cycles, and --select/--exclude selectors.

Selectors follow dbt: `name`, `+name` (with its upstream), `name+` (with its
downstream), `tag:x`; space-separated selectors are a union, comma-joined ones an
intersection (`tag:daily,orders+`).
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Iterable

from toolkit.errors import ProjectError, did_you_mean


class Dag:
    def __init__(self, upstream: dict[str, set[str]], tags: dict[str, set[str]] | None = None):
        self.upstream = {name: set(parents) for name, parents in upstream.items()}
        self.tags = tags or {}
        self.downstream: dict[str, set[str]] = {name: set() for name in upstream}
        for name, parents in self.upstream.items():
            for parent in parents:
                self.downstream[parent].add(name)
        self._order: tuple[str, ...] | None = None

    def order(self) -> list[str]:
        """Names in dependency order (stable: alphabetical among peers). Sorted once: a run
        asks three times (assemble, plan, the runner), ~4 ms each at 500 steps; the edges
        are never changed after construction."""
        if self._order is None:
            sorter = TopologicalSorter({name: sorted(p) for name, p in sorted(self.upstream.items())})
            self._order = tuple(sorter.static_order())
        return list(self._order)

    def find_cycle(self) -> list[str] | None:
        """One cycle as [a, b, c, a], or None."""
        try:
            TopologicalSorter(self.upstream).prepare()
        except CycleError as error:
            # graphlib reports the cycle in reverse dependency order; show a reads b reads c,
            # starting from the first name alphabetically so the message is stable.
            cycle = list(reversed(error.args[1]))[:-1]
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            return cycle + cycle[:1]
        return None

    def ancestors(self, name: str) -> set[str]:
        return self._walk(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        return self._walk(name, self.downstream)

    @staticmethod
    def _walk(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(edges[node])
        return seen

    def select(self, select: Iterable[str] = (), exclude: Iterable[str] = (), absent: Iterable[str] = ()) -> set[str]:
        """The names chosen by --select minus those chosen by --exclude. `absent`: names of
        steps left out of the project (config enabled=false) that --select may name: they
        choose nothing (the run unpublishes them: named_absent)."""
        chosen, absent = set(self.upstream), frozenset(absent)
        select, exclude = list(select), list(exclude)
        for value in select + exclude:
            if not value.split() or any(not part for token in value.split() for part in token.split(",")):
                raise ProjectError(
                    f"selector '{value}' has an empty part",
                    hint="names, +upstream, downstream+ or tag:x; space = union, comma = intersection",
                )
        select = _tokens(select)
        if select:
            chosen = set().union(*(self._intersection(token, absent) for token in select))
        for token in _tokens(exclude):
            chosen -= self._intersection(token, absent)
        return chosen

    def _intersection(self, token: str, absent: frozenset[str] = frozenset()) -> set[str]:
        return set.intersection(*(self._one(part, absent) for part in token.split(",")))

    def _one(self, selector: str, absent: frozenset[str] = frozenset()) -> set[str]:
        up, down = selector.startswith("+"), selector.endswith("+")
        core = selector[1 if up else 0:len(selector) - 1 if down else None]
        if not core or core.startswith("+") or core.endswith("+"):  # ++a was read as +a without a word
            raise ProjectError(f"selector '{selector}' is malformed: one '+' on each side at most",
                               hint="+name (and its upstream), name+ (and its downstream), +name+ (both)")
        if core.startswith("tag:"):
            tag = core[4:]
            base = {name for name, tags in self.tags.items() if tag in tags}
            if not base:
                known = sorted({t for tags in self.tags.values() for t in tags})
                raise ProjectError(f"selector '{selector}': no step has tag '{tag}'", hint=did_you_mean(tag, known))
        elif core in self.upstream:
            base = {core}
        elif core in absent:
            base = set()
        else:
            raise ProjectError(
                f"selector '{selector}': no step, seed or model is named '{core}'",
                hint=did_you_mean(core, self.upstream),
            )
        result = set(base)
        for name in base:
            if up:
                result |= self.ancestors(name)
            if down:
                result |= self.descendants(name)
        return result


def named_absent(select: Iterable[str], absent: Iterable[str]) -> set[str]:
    """The `absent` steps --select names (a selector `x`, `+x`, `x+`): a run selecting them
    unpublishes them, where one that does not leaves them as they are."""
    cores = {part.strip("+") for token in _tokens(list(select)) for part in token.split(",")}
    return cores & set(absent)


def _tokens(values: Iterable[str]) -> list[str]:
    return [token for value in values for token in value.split()]
