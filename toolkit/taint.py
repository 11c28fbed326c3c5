"""Taint for var() values: every string derived from a var stays a bound value.

A var's text must reach SQL only as a literal built by sqlglot. `{{ var("c") }}`
renders a placeholder that `sql.bind_values` turns into a literal after parsing;
this module keeps that true when a template transforms the value first:

    filters   (| upper, | trim, | replace, | join, | format, ...)  every filter's string
              result is tainted when one of its inputs was
    methods   (.upper(), .split(), "{}".format(v))                   the sandbox's call()
    operators (+, *, %, [i], [a:b], iteration)                        VarText's own methods
    {% for %}  over text holding a placeholder                        refused (`iterable`)
    ~         Jinja joins str() of each side: during rendering str() of a tainted value
              is its placeholder, so the result carries the placeholder, not the text
    lists, dicts                                                      tainted element by element

A tainted result renders as a placeholder like the var itself, so whatever Jinja did
to it, its text lands in one literal (or, pasted into a name, one quoted identifier).
Numbers and booleans derived from a var (`| length`, `| int`) are not text and pass.

Text that already holds a placeholder (what `~`, a macro or a {% set %} block made of a
var: a plain str, no longer a VarText) carries the var only by that placeholder. An
operation on such text would work on the placeholder, not the var's text: `| upper`
made '__TOOLKIT_VAR_0__' a literal of its own, `| first` gave '_', `| lower` left the
value as it was. Such operations are refused (`carried`), but the few that only move
text around intact placeholders (trim, indent, join, replace, a slice, ...): those
pass when every placeholder comes out whole.

>>> v = VarText("a' or 1=1 --")
>>> type(v.upper()).__name__, type(v[1:]).__name__, type("x" + v).__name__, type("%s!" % v).__name__
('VarText', 'VarText', 'VarText', 'VarText')
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import re
from typing import Any, Callable

PLACEHOLDER_PREFIX = "__toolkit_var_"  # reserved: no template or value may hold it (it would be bound)
PLACEHOLDER = re.compile(re.escape(PLACEHOLDER_PREFIX) + r"\d+__")  # what a var() value renders as (templating._bind)
# Operations that treat text holding placeholders as text around them; any other is refused.
KEEPS_PLACEHOLDERS = frozenset({"trim", "indent", "center", "safe", "string", "default", "d", "join", "replace",
                                "strip", "lstrip", "rstrip", "slice", "format"})

# During one render: a function that registers a tainted value and returns its placeholder.
binder: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar("toolkit_taint_binder", default=None)


class VarText(str):
    """A string that came from var() (or from an operation on one)."""

    def __str__(self) -> str:
        bind = binder.get()
        return bind(plain(self)) if bind is not None else plain(self)

    def __add__(self, other):
        return VarText(plain(self) + other)

    def __radd__(self, other):
        return VarText(other + plain(self))

    def __mul__(self, count):
        return VarText(plain(self) * count)

    __rmul__ = __mul__

    def __mod__(self, args):
        return VarText(plain(self) % args)

    def __rmod__(self, template):
        return VarText(template % plain(self))

    def __getitem__(self, key):
        return VarText(plain(self)[key])

    def __iter__(self):
        return (VarText(char) for char in plain(self))


def unreserved(what: str, value: Any) -> Any:
    """`value` (a var's, an env var's, a docs block's), refused when its text holds what a
    placeholder looks like: binding resolves placeholders inside bound text (a `| join`
    of vars holds theirs), so it would take another var's value."""
    if isinstance(value, str) and PLACEHOLDER_PREFIX in plain(value).lower():
        raise ValueError(f"{what} holds the text '{PLACEHOLDER_PREFIX}', which toolkit reserves (it marks var() values "
                         "in the rendered SQL): its value would be taken for another var's")
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ():
        unreserved(what, item)
    return value


def plain(value: str) -> str:
    """The text itself, as an ordinary str (str() of a VarText is its placeholder while rendering)."""
    return str.__getitem__(value, slice(None))


class _VarTemporal:
    """A TOML date, time or date-time from var(): still one for Jinja logic (`.year`,
    comparisons), but its text (`| string`, `~`, `.isoformat()`) is a bound value like
    a var string's, never SQL text (`2024-01-31` is arithmetic: 1992)."""

    def _text(self) -> str:
        return self.isoformat(sep=" ") if isinstance(self, datetime.datetime) else self.isoformat()

    def __str__(self) -> str:
        bind = binder.get()
        return bind(self._text()) if bind is not None else self._text()

    def __add__(self, other):  # d + timedelta is still the var's: its text stays bound
        return wrap(super().__add__(other))

    __radd__ = __add__

    def __sub__(self, other):
        return wrap(super().__sub__(other))


class VarDate(_VarTemporal, datetime.date):
    pass


class VarDateTime(_VarTemporal, datetime.datetime):
    pass


class VarTime(_VarTemporal, datetime.time):
    pass


def _temporal(value):
    if isinstance(value, datetime.datetime):
        return VarDateTime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                           value.microsecond, value.tzinfo)
    if isinstance(value, datetime.date):
        return VarDate(value.year, value.month, value.day)
    return VarTime(value.hour, value.minute, value.second, value.microsecond, value.tzinfo)


def wrap(value: Any) -> Any:
    """var() values: strings tainted, dates and times too, containers element by element,
    numbers as they are."""
    if isinstance(value, str):
        return value if isinstance(value, VarText) else VarText(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value if isinstance(value, _VarTemporal) else _temporal(value)
    if isinstance(value, (list, tuple)):
        return type(value)(wrap(item) for item in value)
    if isinstance(value, dict):
        return {key: wrap(item) for key, item in value.items()}
    return value


def tainted(value: Any) -> bool:
    if isinstance(value, (VarText, _VarTemporal)) or isinstance(getattr(value, "__self__", None), (VarText, _VarTemporal)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(tainted(item) for item in value)
    if isinstance(value, dict):
        return any(tainted(item) for item in value.values())
    return False


def resolve(text: str, bindings: dict[str, str]) -> str:
    """`text` with each placeholder replaced by its var() value, as text. A value made from
    other var values (`| join`, `~`) holds their placeholders: those are resolved too, a
    bounded number of times (a var's own text may look like one)."""
    for _ in range(8):
        if not PLACEHOLDER.search(text):
            break
        text = PLACEHOLDER.sub(lambda m: bindings.get(m.group(0), m.group(0)), text)
    return text


def _placeholders(value: Any) -> set[str]:
    """The placeholders a plain str (or the strs of a list) holds; a VarText holds none."""
    if isinstance(value, str) and not isinstance(value, VarText):
        return set(PLACEHOLDER.findall(value)) if PLACEHOLDER_PREFIX in value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_placeholders(item) for item in value)) if value else set()
    return set()


def carried(operation: str, inputs: tuple, result: Any) -> None:
    """Refuse an operation that changed text holding a var() value's placeholder (see the
    module doc): one not in KEEPS_PLACEHOLDERS, or one that did not keep each whole."""
    held = _placeholders(inputs)
    if not held:
        return
    if operation in KEEPS_PLACEHOLDERS and held <= _placeholders(result if isinstance(result, (str, list, tuple)) else ()):
        return
    raise ValueError(f"'{operation}' is applied to text that holds a var() value (made with ~, a macro or a "
                     "{% set %} block), where it would change the var's placeholder instead of its value; apply it "
                     "to the var itself, e.g. (var('x') | upper) ~ '_SUFFIX'")


def iterable(value: Any) -> Any:
    """What a {% for %} loop walks (templating wraps every loop's iterable in it): text
    holding a var's placeholder would be walked character by character through the
    placeholder, not the value (dropping some characters published 'toolkitvar0')."""
    if _placeholders(value if isinstance(value, str) else ()):
        raise ValueError("a {% for %} loop walks text that holds a var() value (made with ~, a macro or a {% set %} "
                         "block), where it would walk the var's placeholder instead of its value; loop over the var "
                         "itself, e.g. {% for c in var('x') %}")
    return value


def taint_result(result: Any) -> Any:
    if isinstance(result, bytes):
        raise TypeError("a var() value turned into bytes cannot reach SQL")
    return wrap(result)


def tainting(function: Callable, name: str | None = None) -> Callable:
    """A Jinja filter whose result is tainted when any of its inputs is (and refused on
    text holding a var's placeholder that it would change: `carried`)."""
    name = name or function.__name__

    @functools.wraps(function)
    def filtered(*args, **kwargs):
        args = tuple(list(a) if _iterator(a) else a for a in args)  # a generator can be looked at once only
        result = function(*args, **kwargs)
        carried(name, args + tuple(kwargs.values()), result)
        return taint_result(result) if tainted(args) or tainted(tuple(kwargs.values())) else result

    return filtered


def join(original: Callable) -> Callable:
    """`| join` that refuses the dbt idiom `'{{ var("xs") | join("', '") }}'`: the quotes in
    the separator would be SQL, but var() values stay one literal (`IN ('a'', ''b')`,
    which matches nothing). A list var already renders as a SQL list: `in {{ var("xs") }}`."""
    filtered = tainting(original, "join")

    @functools.wraps(original)
    def joined(eval_ctx, value, d="", attribute=None):
        if isinstance(d, str) and "'" in plain(d) and tainted((value,)):
            raise ValueError("joining var() values with a quote in the separator would make SQL of them; they stay "
                             "one string literal. A list var renders as a SQL list: write `in {{ var('xs') }}`")
        return filtered(eval_ctx, value, d, attribute)

    return joined


def replace(value, old, new, count=None):
    """`| replace` on the text itself (Jinja's own works on str(), the placeholder while rendering)."""
    def text(v):
        return plain(v) if isinstance(v, str) else str(v)

    result = text(value).replace(text(old), text(new), -1 if count is None else count)
    carried("replace", (value, old, new), result)
    return wrap(result) if tainted((value, old, new)) else result


def _iterator(value: Any) -> bool:
    return hasattr(value, "__next__")


def strict_number(kind: type) -> Callable:
    """`| int` / `| float` that refuse text that is not a number, instead of giving 0."""

    def convert(value, default=None, base=10):
        try:
            if kind is int and isinstance(value, str):
                return int(plain(value).strip(), base)
            return kind(plain(value).strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            if default is not None:
                return default
            raise ValueError(f"'{plain(value) if isinstance(value, str) else value}' is not a{'n integer' if kind is int else ' number'}") from None

    convert.__name__ = f"strict_{kind.__name__}"
    return convert
