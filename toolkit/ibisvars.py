"""var() values as an ibis step sees them.

ibis reads a plain `str` given to select()/mutate()/aggregate()/group_by()/order_by()/
filter() or a join predicate as a column *name*: `t.select(label=var("label"))` with
label = "v" published column v's values, and with "paid" failed as an unknown column.
toolkit's contract is that a var() value reaches SQL as a literal, so var() hands a step
its strings as `VarText`, a `str` that Python logic uses like any other (`==`, `in`,
f-strings, `.upper()`), and toolkit's wrapper of ibis' binding makes it a literal
wherever ibis would read a name. Methods that derive a new string from it keep the
mark (`var("p").upper()`, `var("p") + "_x"`); an f-string or str(var("p")) builds a plain
`str`, which ibis reads as a column name (the way to name a column from a var, on purpose).
Where ibis reads only a column name (t[...], getattr(t, ...), distinct(on=...), a selector,
a {column: ...} mapping key, a key: VarAsKey) a var() string is refused, exit 2 at its line:
a name taken from a var without str() would break the literal contract, and a literal there
selects nothing or silently changes the rows. rename(new=var("old")) alone still names (it
did before t[...] refused), and a var() string as an output name (`.name(var(...))`,
rename's new name) is a quoted identifier.
"""

from __future__ import annotations

from typing import Any


class VarText(str):
    """A string that came from var(): bound by ibis as a literal, never as a column name."""

    __slots__ = ()


def _keeps_mark(name: str):
    method = getattr(str, name)

    def derived(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        return VarText(result) if isinstance(result, str) and not isinstance(result, VarText) else result

    derived.__name__ = name
    return derived


# the str methods returning a new string made from this one (format/join take their
# text from elsewhere as well: the result still carries the var's characters)
for _name in ("__add__", "__mul__", "__rmul__", "__mod__", "__getitem__", "capitalize", "casefold", "center", "expandtabs",
              "format", "join", "ljust", "lower", "lstrip", "removeprefix", "removesuffix", "replace", "rjust", "rstrip",
              "strip", "swapcase", "title", "upper", "zfill"):
    setattr(VarText, _name, _keeps_mark(_name))


def _radd(self, other):
    return VarText(other + str(self)) if isinstance(other, str) else NotImplemented


VarText.__radd__ = _radd


def marked(value: Any) -> Any:
    """`value` with its strings (also inside lists, tuples and dicts) made VarText."""
    if isinstance(value, str):
        return VarText(value)
    if isinstance(value, (list, tuple)):
        return type(value)(marked(item) for item in value)
    if isinstance(value, dict):
        return {key: marked(item) for key, item in value.items()}
    return value


class VarAsKey(TypeError):
    """A var() string given to join(), group_by() or order_by() as a key: as a literal it
    would join every row to every row, make one group, or order nothing; before vars were
    literals it named a column, so a project relying on that would change its rows silently.
    Likewise where a method takes only column names (drop, relocate, drop_null, unpack,
    aggregate's by=, t[...]): there ibis failed with a bare KeyError or TypeError; and a
    window's group_by/order_by (over(), ibis.window()), one partition in no order. Where it
    named a column without a word of warning: distinct(on=...), getattr(t, ...), selectors
    (pivot_longer, pivot_wider, s.cols) and the keys of fill_null/cast mappings."""


# Table methods whose arguments name columns -> the keyword arguments that do (None: all of them)
REFUSED = {"group_by": None, "order_by": None, "drop": None, "relocate": None, "drop_null": None, "dropna": None,
           "unpack": None, "__getitem__": None, "__getattr__": None, "aggregate": ("by",), "distinct": ("on",)}
# Table methods taking a {column name: ...} mapping: its keys name columns (its values are values)
REFUSED_KEYS = ("fill_null", "fillna", "cast", "try_cast")


def _refuse_var_keys(method: str, original, keywords: tuple[str, ...] | None = None):
    label = {"__getitem__": "t[...]", "__getattr__": "getattr(t, ...)", "aggregate": "aggregate by=",
             "distinct": "distinct on=", "over": "over() group_by/order_by", "window": "ibis.window() group_by/order_by",
             "cols": "column selector", **{name: f"{name}() mapping key" for name in REFUSED_KEYS}}.get(method, method)

    def refusing(*args, **kwargs):  # a method (args[0] is the table or value) or a function
        if method in REFUSED_KEYS:
            named = [key for value in [*args, *kwargs.values()] if isinstance(value, dict) for key in value]
        else:
            named = _flat(args, kwargs) if keywords is None else _flat((), {k: kwargs[k] for k in keywords if k in kwargs})
        for value in named:
            if isinstance(value, VarText):
                raise VarAsKey(f"{label} var() '{value}' is a literal in SQL, not a column name: name the column "
                               "with str(var(...)) if that is meant")
        return original(*args, **kwargs)

    refusing.__name__, refusing.__doc__ = original.__name__, original.__doc__
    return refusing


def _flat(args, kwargs):
    for value in [*args, *kwargs.values()]:
        yield from value if isinstance(value, (list, tuple)) else (value,)


def install_literal_binding(ibis) -> None:
    """Wrap ibis' `bind` (where a str becomes a column) so that a VarText binds as a
    literal. Other values bind exactly as before, so the wrapper is installed once for
    the process. joins.py imports `bind` by name and binds a str key on both sides:
    there a literal would compare 'k' = 'k' (every row joins every row), so it refuses."""
    from ibis.expr.types import joins, relations

    original = relations.bind
    if getattr(original, "__toolkit_literal_vars__", False):
        return

    def bind(table, value):
        if isinstance(value, VarText):
            value = ibis.literal(str(value))
        return original(table, value)

    def bind_join_key(table, value):
        if isinstance(value, VarText):
            raise VarAsKey(f"join key var() '{value}' is a literal in SQL, not a column name: "
                           "compare columns (a.k == b.k), or name the column with str(var(...))")
        return bind(table, value)

    bind.__toolkit_literal_vars__ = True
    relations.bind, joins.bind = bind, bind_join_key
    for method, keywords in [*REFUSED.items(), *((name, None) for name in REFUSED_KEYS)]:
        if hasattr(relations.Table, method):
            setattr(relations.Table, method, _refuse_var_keys(method, getattr(relations.Table, method), keywords))
    # a selector's column names (distinct on=, pivot_longer, pivot_wider, s.cols(...)): a literal selects nothing
    from ibis import selectors

    selectors.cols = _refuse_var_keys("cols", selectors.cols)
    relations.Table.rename = _names_as_before(relations.Table.rename)
    # a window partitioned or ordered by a literal is one partition, in no order: refused like group_by
    from ibis.expr import api
    from ibis.expr.types import generic

    generic.Value.over = _refuse_var_keys("over", generic.Value.over, ("group_by", "order_by"))
    api.window = ibis.window = _refuse_var_keys("window", api.window, ("group_by", "order_by"))


def _names_as_before(original):
    """rename(new=var("old")) named the column before t[...] refused a var(): it still does."""
    def plain(value):
        if isinstance(value, VarText):
            return str(value)
        return {plain(k): plain(v) for k, v in value.items()} if isinstance(value, dict) else value

    def renaming(self, *args, **kwargs):
        return original(self, *(plain(a) for a in args), **{k: plain(v) for k, v in kwargs.items()})

    renaming.__name__, renaming.__doc__ = original.__name__, original.__doc__
    return renaming
