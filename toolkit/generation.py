"""SQL text from a sqlglot tree, refusing what sqlglot cannot write for the dialect.

sqlglot's DuckDB generator also remarks on *another* dialect's meaning: an EXTRACT from a
TIMESTAMPTZ "may produce different results" because Snowflake extracts in the server's
time zone. Said of SQL read as DuckDB (or built by toolkit for the engine) that remark is
about nothing: DuckDB extracts as DuckDB does. As an error it failed
`extract(hour from cast(ts as timestamptz))` on DuckDB itself.
"""

from __future__ import annotations

import logging

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError, concat_messages

_ABOUT_ANOTHER_DIALECT = ("EXTRACT from TIMESTAMPTZ / TIMESTAMPLTZ may produce different results",)


class _NoRemarks(logging.Filter):
    """Drops those remarks from sqlglot's log: the texts toolkit makes of its trees for itself
    (fingerprints, SQL diffs) logged one to stderr per call; generate() decides on them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_ABOUT_ANOTHER_DIALECT)


logging.getLogger("sqlglot").addFilter(_NoRemarks())


def generate(tree: exp.Expression, dialect, same_meaning: bool, copy: bool = True, **options) -> str:
    """`tree` as `dialect`'s SQL (UnsupportedError for what sqlglot cannot write).
    `same_meaning`: the tree means what `dialect` means (read in it, or built for it), so
    sqlglot's remarks on another dialect's meaning do not apply."""
    from sqlglot.dialects.dialect import Dialect

    generator = Dialect.get_or_raise(dialect).generator(unsupported_level=ErrorLevel.IGNORE, **options)
    text = generator.generate(tree, copy=copy)
    problems = [message for message in generator.unsupported_messages
                if not (same_meaning and message.startswith(_ABOUT_ANOTHER_DIALECT))]
    if problems:
        raise UnsupportedError(concat_messages(problems, generator.max_unsupported))
    return text
