"""DuckDB's (RE2's) character classes, escapes and brackets kept on PostgreSQL and Spark, or
refused at the user's line (toolkit/regexclasses.py, called by toolkit/regexmeanings.py).

RE2's \\w, \\d, \\s, \\b and [[:alpha:]] are ASCII; PostgreSQL's are Unicode (\\w matches 'é',
\\s an em space), Java's \\s matches \\v, its \\b counts 'é' a word character and it reads
[[:alpha:]] as a set of ':', 'a', 'l', 'p', 'h'. Each expression runs on DuckDB (the
reference) and on each engine (tests/meanings_support.py's fixtures, over SCHEMA.m).
"""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from meanings_support import assert_refused_at_line, duck, postgres, query, reference, same, spark  # noqa: F401 (duck, postgres, spark are fixtures)

pytestmark = pytest.mark.slow  # starts (or shares) the embedded Spark

SCHEMA = f"regex_classes_{os.getpid()}"

ROWS = {
    "k": list(range(1, 15)),
    "s": ["é", "\u0663", "\x0b", "\u2003", "\u212a", "\u017f", "aé", "a.b*c", "ab", "[a]&", "a_1 b",
          "x\ny", "k", "é-a"],
}
TYPES = {"k": pa.int64(), "s": pa.string()}

# answered otherwise on PostgreSQL before (Unicode classes, \b a backspace) or failed when run
# there (\z, (?P<name>...), \Q...\E, \x{41})
ON_POSTGRES = [
    "regexp_matches(s, '\\w')", "regexp_matches(s, '^\\W$')", "regexp_matches(s, '\\s')", "regexp_matches(s, '\\S')",
    "regexp_matches(s, '^\\d$')", "regexp_matches(s, '^[\\w-]+$')", "regexp_matches(s, '^[^\\w]$')",
    "regexp_matches(s, '^[\\W]$')", "regexp_matches(s, '^[^\\W]+$')", "regexp_matches(s, '^[\\s]$')",
    "regexp_matches(s, '^[^\\s]$')", "regexp_matches(s, '^[^\\d]$')", "regexp_matches(s, '^[[:alpha:]]+$')",
    "regexp_matches(s, '^[[:alnum:]_]+$')", "regexp_matches(s, '^[[:space:]]$')", "regexp_matches(s, '^[[:^alpha:]]$')",
    "regexp_matches(s, '^[[:punct:]]+$')", "regexp_matches(s, '^[[:word:]]$')",
    "regexp_matches(s, 'a\\b')", "regexp_matches(s, '\\ba')", "regexp_matches(s, 'a\\B')",
    "regexp_replace(s, '\\b', '|', 'g')", "regexp_replace(s, '\\w', '#', 'g')",
    "regexp_matches(s, 'b\\z')", "regexp_matches(s, '\\Aa')", "regexp_matches(s, '(?m)y\\z')",
    "regexp_replace(s, '(?P<first>a)(.)', '<\\2>', 'g')", "regexp_matches(s, '\\Q.b*\\E')", "regexp_matches(s, '\\Q[a]')",
    "regexp_matches(s, '\\x{61}b')", "regexp_matches(s, '^[\\x{61}-\\x{62}]+$')",
]
# Not here: (?i) on PostgreSQL folds neither the Kelvin sign (row 5) onto k nor the long s (row 6)
# onto s as RE2 does ('(?i)^[[:lower:]]+$', '(?i)k'): known and left (regexmeanings' docstring)

# answered otherwise on Spark before: \s matched \v, \b counted 'é', [[:alpha:]] was a set of
# letters, '[' and && inside brackets were a nested class and an intersection; \Q...\E's dots
# were rewritten; (?P<name>...) failed when run; (?iu)\W matched the Kelvin sign
ON_SPARK = [
    "regexp_matches(s, '\\s')", "regexp_matches(s, '^[\\S]$')", "regexp_matches(s, 'a\\b')",
    "regexp_matches(s, '^[[:alpha:]]+$')", "regexp_matches(s, '^[^[:alpha:]]$')", "regexp_matches(s, '^[a[]+')",
    "regexp_matches(s, '^[]a&[]+$')", "regexp_matches(s, '^[\\w-]+$')", "regexp_matches(s, '^[a\\W]+$')",
    "regexp_matches(s, '\\Q.b*\\E')", "regexp_extract(s, '(?P<first>a)(.)', 2)", "regexp_matches(s, '\\p{Greek}|\\pN')", "regexp_matches(s, '(?i)\\W')",
]


def _query(expression: str):
    return query(SCHEMA, expression)


@pytest.mark.parametrize("expression", ON_POSTGRES)
def test_postgres_means_what_duckdb_means(expression, duck, postgres):
    want = reference(duck, SCHEMA, expression)
    got = postgres.fetch_rows(_query(expression))
    assert same(got, want), f"{expression}: postgres {got} != duckdb {want}\n{postgres.generate(_query(expression))}"


@pytest.mark.parametrize("expression", ON_SPARK)
def test_spark_means_what_duckdb_means(expression, duck, spark):
    want = reference(duck, SCHEMA, expression)
    got = spark.fetch_rows(_query(expression))
    assert same(got, want), f"{expression}: spark {got} != duckdb {want}\n{spark.generate(_query(expression))}"


def test_the_values_do_tell_the_classes_apart(duck):
    """The table holds values on which PostgreSQL's own \\w and Java's own \\s answer otherwise."""
    assert [row[1] for row in reference(duck, SCHEMA, "regexp_matches(s, '\\w')")][:6] == [False] * 6
    assert [row[1] for row in reference(duck, SCHEMA, "regexp_matches(s, '\\s')")][:4] == [False] * 4


REFUSED = [  # (expression, targets, words of the message)
    ("regexp_matches(s, '[a\\W]')", ["postgres"], "the bracket [a\\W] holds a negated class among other members"),
    ("regexp_matches(s, '[[:^alpha:]0]')", ["postgres"], "negated class among other members"),
    ("regexp_matches(s, '\\pL')", ["postgres"], "\\pL (a Unicode class) has no equivalent on PostgreSQL"),
    ("regexp_matches(s, '[\\p{Greek}a]')", ["postgres"], "\\p{Greek} (a Unicode class)"),
    ("regexp_matches(s, 'a\\C')", ["postgres", "spark"], "\\C (any one byte) has no equivalent"),
]


@pytest.mark.parametrize(("expression", "targets", "message"), REFUSED)
def test_refused_at_compile_at_the_line(expression, targets, message):
    assert_refused_at_line(SCHEMA, expression, targets, message)
