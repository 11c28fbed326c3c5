"""What training, the registry, scoring and the model-to-SQL compiler share, kept in
one place so none of them imports another for it: the typed `Feature`, the type
families, the probability column names and `json_safe`.

Nothing here imports numpy, scikit-learn or pyarrow: the registry and the compiler
read it on every run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


def type_family(arrow_type: str) -> str:
    """number | string | boolean | temporal | binary | the type itself: scoring data
    may change width (int32 -> int64) but not family (number -> string)."""
    t = arrow_type.lower()
    if t.startswith(("int", "uint", "float", "double", "halffloat", "decimal")):
        return "number"
    if t.startswith(("string", "large_string", "string_view", "utf8", "large_utf8", "dictionary<values=string")):
        return "string"
    if t.startswith("bool"):
        return "boolean"
    if t.startswith(("date", "timestamp", "time", "duration")):
        return "temporal"
    if t.startswith(("binary", "large_binary", "fixed_size_binary")):
        return "binary"
    return t


@dataclass(frozen=True, eq=False)
class Feature(Mapping):
    """One input column of a model, as training saw it.

    name: the column; type: its Arrow type text ("double", "int32", "decimal128(10, 2)");
    categories: for string columns with at most training.MAX_CATEGORIES distinct
    values, the sorted values seen in training (the unseen-category check), else None.

    A Feature also reads as its stored JSON form, the registry's `features` entry
    {"name", "type"[, "categories"]} (`feature["name"]`, `dict(feature)`, equality
    with such a dict), so versions registered before this class existed load as
    they are and code written against the dict keeps working.
    """

    name: str
    type: str
    categories: tuple | None = None

    @property
    def family(self) -> str:
        return type_family(self.type)

    def to_json(self) -> dict:
        entry: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.categories is not None:
            entry["categories"] = list(self.categories)
        return entry

    @classmethod
    def from_json(cls, entry: Any) -> Feature:
        """A registry `features` entry (or a Feature) as a Feature; extra keys are ignored."""
        if isinstance(entry, Feature):
            return entry
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("type"), str):
            raise ValueError(f"not a feature description (want name and type): {entry!r}")
        categories = entry.get("categories")
        return cls(entry["name"], entry["type"], None if categories is None else tuple(categories))

    # -- the Mapping view: the JSON form --------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Feature):
            return (self.name, self.type, self.categories) == (other.name, other.type, other.categories)
        if isinstance(other, Mapping):
            return self.to_json() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.categories))


def features_of(entries: Any) -> list[Feature]:
    """A list of registry `features` entries (dicts or Features) as Features."""
    return [Feature.from_json(entry) for entry in entries or []]


class ProbaColumnClash(ValueError):
    """Two classes of one classifier would name the same `proba_<class>` column."""


def proba_column(label: Any) -> str:
    """`proba_<class>` for one class: the class as text, lower-cased, each run of characters
    other than a-z and 0-9 made one `_` (leading and trailing ones dropped; nothing left:
    `class`), and a negative number's minus sign spelled `neg_`: 'Yes!' -> proba_yes,
    1 -> proba_1, -1 -> proba_neg_1, -0.5 -> proba_neg_0_5, True -> proba_true."""
    text = str(_plain(label)).lower()
    sign = "neg_" if re.match(r"-(?:[0-9]|\.[0-9]|inf)", text) else ""
    return f"proba_{sign}{re.sub(r'[^0-9a-z]+', '_', text).strip('_') or 'class'}"


def proba_columns(classes: list, max_length: int | None = None) -> list[str]:
    """proba_column of each class, in the order of `classes` (a classifier's classes_, the
    order of predict_proba's columns). Two classes that name one column ('A' and 'a',
    'a b' and 'a_b') raise ProbaColumnClash naming both: never a suffix that would let
    a column name another class's probability. `max_length` (the target's identifier
    limit in bytes, engines' MAX_IDENTIFIER_LENGTH: 63 on PostgreSQL, which cuts longer
    names silently): a longer name is refused. Cut, it would be another column than the one
    toolkit reads by name (realized metrics, scoring's checks), and two cut ones could be one."""
    names: dict[str, Any] = {}
    for label in classes:
        name = proba_column(label)
        if max_length and len(name.encode()) > max_length:
            raise ProbaColumnClash(_too_long_text(_plain(label), name, max_length))
        if name in names:
            raise ProbaColumnClash(_clash_text(_plain(names[name]), _plain(label), name))
        names[name] = label
    return [proba_column(label) for label in classes]


def _too_long_text(label: Any, name: str, max_length: int) -> str:
    return (f"class {label!r} would be published as column {name} ({len(name.encode())} bytes), but the target keeps "
            f"only the first {max_length} bytes of a column name; relabel it shorter so that its column keeps its name")


def _clash_text(first: Any, second: Any, name: str) -> str:
    return (f"classes {first!r} and {second!r} would both be published as column {name} "
            "(proba_<class> lower-cases the class and turns each run of characters other than a-z and 0-9 into _); "
            "relabel one of them so that every class names its own column")


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (np.int64(-1) -> -1, np.str_('a') -> 'a')."""
    if isinstance(value, str):
        return str(value)
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value


def json_safe(value: Any, describe: Callable[[Any], Any] = repr) -> Any:
    """`value` as JSON can hold it: numpy scalars unwrapped, NaN and infinities as
    text ("nan", "inf"), anything else (estimators, types, arrays) given to
    `describe` (its repr by default)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):  # np.float64 too: it subclasses float
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, describe) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, describe) for item in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return json_safe(value.item(), describe)
    return describe(value)
