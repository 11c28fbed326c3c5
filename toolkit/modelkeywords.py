"""The type each @model(...) keyword takes, checked before anything uses the value.

A wrong type (label=5, sample="0.5", metrics=[5]) used to reach a comparison or a
did-you-mean lookup and end as "internal error: TypeError"; checked here first, it is
exit 2 at the @model line naming the keyword, the type it takes and what was given.
The keywords whose values the validation in models.py already checks fully (scoring,
promote, margin, monitors, description, meta, allow_tags) are left to it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, Callable


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _optional_string(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _optional_strings(value: Any) -> bool:
    return value is None or _strings(value)


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # True is an int to Python, not a fraction


def _optional_number(value: Any) -> bool:
    return value is None or _number(value)


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy's integers too


def _named_numbers(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(name, str) for name in value)


# ModelSpec field -> (the keyword as @model spells it, what it takes, its check)
KEYWORD_TYPES: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "training": ("training", "a step name (a string)", _string),
    "label": ("label", "a column name (a string)", _string),
    "key": ("key", "a column name or a list of column names", _strings),
    "table_to_score": ("scoring_table", "a step name (a string)", _optional_string),
    "scoring": ("scoring", "a string", _string),
    "features": ("features", "a list of column names", _optional_strings),
    "exclude": ("exclude", "a list of column names", _strings),
    "split": ("split", "a string", _string),
    "split_column": ("split_column", "a column name (a string)", _optional_string),
    "test_fraction": ("test_fraction", "a number", _number),
    "seed": ("seed", "an integer", _integer),
    "metrics": ("metrics", "a metric name or a list of metric names", _optional_strings),
    "gates": ("gates", "a dict of metric name -> number", _named_numbers),
    "sample": ("sample", "a number", _optional_number),
    "segments": ("segments", "a column name or a list of column names", _strings),
    "allow_tags": ("allow_tags", "a tag name or a list of tag names", _strings),
    "as_of": ("as_of", "a column name (a string)", _optional_string),
    "feature_times": ("feature_times", "a list of column names", _strings),
    "outcomes": ("outcomes", "a step or seed name (a string)", _optional_string),
}


def names(value: Any) -> Any:
    """A list of names; one name written as a string is a list of that name (metrics="roc_auc"
    was split into its letters: "unknown metric 'r'"). Anything else that is not a sequence
    (5, a dict) is kept as given, for check_types to name."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (dict, bytes)):
        return list(value)
    return value


def check_types(spec: Any, fail: Callable[[str], None]) -> None:
    """fail(message) for the first keyword of `spec` whose value has the wrong type."""
    for field_name, (keyword, takes, fits) in KEYWORD_TYPES.items():
        value = getattr(spec, field_name)
        if not fits(value):
            fail(f"{keyword} must be {takes}, got {_shown(value)}")


def _shown(value: Any) -> str:
    """The value and, for a list, the element that does not fit: metrics=[5] -> "[5] (5 is an int)"."""
    shown = f"{value!r:.60} ({type(value).__name__})"
    if isinstance(value, list) and any(not isinstance(item, str) for item in value):
        odd = next(item for item in value if not isinstance(item, str))
        shown = f"{value!r:.60} ({odd!r:.30} is {type(odd).__name__}, not a string)"
    elif isinstance(value, dict):
        odd = next((name for name in value if not isinstance(name, str)), None)
        if odd is not None:
            shown = f"{value!r:.60} (the name {odd!r:.30} is {type(odd).__name__}, not a string)"
    return shown
