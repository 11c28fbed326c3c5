"""DuckDB's regular expressions (RE2) kept on PostgreSQL (ARE) and Spark (Java), or refused.

The regex rows of toolkit/meanings.py's table, and for PostgreSQL:

- '.' in a regular expression (regexp_matches, ~, SIMILAR TO, regexp_replace, ...) matches a
  newline there, not in DuckDB (RE2). Each '.' outside brackets is written [^\\n]; the
  newline-sensitive options (?n)/(?p) are no equivalent (they also keep [^a] off newlines,
  which RE2's matches). A pattern that is not a literal (nor a || or CASE of literals) is
  refused: its dots are known only when it runs.
- regexp_replace's \\0 (the whole match) is \\& there; a replacement that is not a literal
  is refused as on Spark.

Refused lives here, the lower of the two modules (meanings imports this one), and is
meanings.Refused too.
"""

from __future__ import annotations

import re
from typing import Callable

from sqlglot import exp


class Refused(Exception):
    """A call the target cannot run with DuckDB's meaning; the message says what to write.
    `token`: a word of the user's text to find their line by (the name a refused cast
    casts, the function or keyword refused)."""

    def __init__(self, message: str, token: str | None = None):
        super().__init__(message)
        self.token = token


REGEX_CALLS = (exp.RegexpLike, exp.RegexpILike, exp.RegexpReplace, exp.RegexpSplit, exp.RegexpExtract,
                exp.RegexpExtractAll, exp.RegexpCount)
_CALL_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def spelled(function: exp.Expression) -> str:
    """The function's DuckDB name (quantile_cont, median), as the user most likely wrote it."""
    found = _CALL_NAME.match(function.sql("duckdb"))
    return found.group(1).lower() if found else function.sql_name().lower()


def refuse_unportable(node: exp.Expression, write: str) -> None:
    """Calls read from DuckDB with no same-meaning spelling on `write` (Spark or PostgreSQL)."""
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.SimilarTo):
        # sqlglot writes `s ~ '^(?:p)$' ESCAPE 'c'` (a syntax error) and DuckDB refuses it itself
        raise Refused(f"SIMILAR TO ... ESCAPE cannot run on {write} (nor on DuckDB, which refuses the ESCAPE "
                      "clause): escape the character in the pattern with a backslash, e.g. 'a\\.b'", "escape")
    if isinstance(node, exp.RegexpReplace):
        replacement = node.args.get("replacement")
        if replacement is not None and not isinstance(replacement, exp.Null) and \
                not (isinstance(replacement, exp.Literal) and replacement.is_string):
            raise Refused(f"regexp_replace(...) with a replacement that is not a string literal ({replacement.sql('duckdb')}) "
                          f"cannot run on {write} with DuckDB's meaning: a \\1 or \\0 in its values names a group "
                          f"in DuckDB and is spelled otherwise on {write}: write the replacement as a literal", "regexp_replace")


def full_match(node: exp.SimilarTo, end: str = "$") -> exp.Expression:
    r"""DuckDB's SIMILAR TO is a full match of a regular expression ('abc' SIMILAR TO 'a.*');
    PostgreSQL reads the pattern as SQL's (% and _ wildcards, . literal) and Spark has no
    SIMILAR TO: both get the regular expression anchored at both ends (`end`: Spark's (Java's)
    $ also matches before a final newline, its \z only at the end, like RE2's $)."""
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        anchored = exp.Literal.string(f"^(?:{pattern.this}){end}")
    else:  # || keeps a NULL pattern NULL
        anchored = exp.paren(exp.DPipe(this=exp.DPipe(this=exp.Literal.string("^(?:"), expression=exp.paren(pattern)),
                                       expression=exp.Literal.string(f"){end}")))
    return exp.RegexpLike(this=node.this, expression=anchored)



def postgres_replacement(node: exp.RegexpReplace) -> exp.RegexpReplace:
    r"""DuckDB (RE2) writes the whole match as \0; PostgreSQL as \& (its \0 is the text '\0')."""
    replacement = node.args.get("replacement")
    if not (isinstance(replacement, exp.Literal) and replacement.is_string and "\\" in replacement.this):
        return node
    text = re.sub(r"\\\\|\\0", lambda found: "\\&" if found.group(0) == "\\0" else found.group(0), replacement.this)
    node = node.copy()
    node.set("replacement", exp.Literal.string(text))
    return node


def one_line_dots(node: exp.Expression, name: str, write: str = "postgres") -> exp.Expression:
    """DuckDB's '.' (RE2) matches any character but a newline; PostgreSQL's matches a newline
    too. Its newline-sensitive options ((?n), (?p)) would also keep [^a] off newlines, which
    RE2's matches: only the dots are spelled [^\n]. A pattern that is not a literal (nor a
    concatenation or CASE of literals) is refused: its dots are known only when it runs."""
    pattern = node.expression
    rewritten = _each_literal(pattern, _dots_off_newline if write == "postgres" else _java_pattern)
    if rewritten is None:
        raise Refused(f"{name} with the pattern {pattern.sql('duckdb')}, which is not a string literal, "
                      f"cannot run on {write} with DuckDB's meaning ('.' and $ treat newlines otherwise there): "
                      "write the pattern as a literal", name.split()[0])
    if rewritten is pattern:
        return node
    node = node.copy()
    node.set("expression", rewritten)
    return node


def _each_literal(pattern: exp.Expression, rewrite: Callable[[str], str]) -> exp.Expression | None:
    """`pattern` with `rewrite` applied to the text of each pattern it can be (a literal, a
    literal concatenation, the branches of a CASE); None when one of them is not literal."""
    if isinstance(pattern, exp.Null):
        return pattern
    if isinstance(pattern, exp.Paren):
        inner = _each_literal(pattern.this, rewrite)
        return None if inner is None else exp.paren(inner, copy=False)
    text = _literal_text(pattern)
    if text is not None:
        return exp.Literal.string(rewrite(text))
    if isinstance(pattern, exp.Case) and pattern.this is None:
        case = pattern.copy()
        branches = [*(branch.args["true"] for branch in case.args.get("ifs") or []), case.args.get("default")]
        for branch in branches:
            if branch is None:
                continue
            new = _each_literal(branch, rewrite)
            if new is None:
                return None
            branch.replace(new)
        return case
    return None


def _literal_text(pattern: exp.Expression) -> str | None:
    """The text of a string literal or of a || of them."""
    while isinstance(pattern, exp.Paren):
        pattern = pattern.this
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return pattern.this
    if isinstance(pattern, exp.DPipe):
        left, right = _literal_text(pattern.this), _literal_text(pattern.expression)
        return None if left is None or right is None else left + right
    return None


def spark_flags(node: exp.Expression) -> exp.Expression:
    """regexp_matches(s, p, 'i'): Spark's RLIKE takes no options (sqlglot dropped the 'i');
    written into the pattern as (?iu) (Unicode case like RE2's)."""
    flag = node.args.get("flag")
    if flag is None and not isinstance(node, exp.RegexpILike):
        return node
    flags = "i" if flag is None else flag.name if isinstance(flag, exp.Literal) else None
    if flags is None or set(flags) - {"i", "c"}:
        raise Refused(f"{spelled(node)}(...) option {flag.sql('duckdb') if flag else ''} cannot run on spark (only 'i' "
                      "and 'c' can): write the option into the pattern", spelled(node))
    node = node.copy()
    node.set("flag", None)
    if "i" in flags[flags.rfind("c") + 1:]:  # the last of 'i' and 'c' wins
        node.set("expression", exp.DPipe(this=exp.Literal.string("(?iu)"), expression=node.expression))
    return node


def _java_pattern(pattern: str) -> str:
    r"""Spark (Java): '.' also stops at \r, \u0085, \u2028, \u2029 (RE2's only at \n) and $
    also matches before a final newline (RE2's only at the end): [^\n] and \z."""
    return _dots_off_newline(pattern, r"\z")


def _dots_off_newline(pattern: str, end: str | None = None) -> str:
    r"""Each '.' outside brackets and escapes as [^\n], and each $ as `end` when given (RE2
    syntax kept otherwise)."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index:index + 2])
            index += 2
        elif char == "[":
            end = _bracket_end(pattern, index)
            out.append(pattern[index:end])
            index = end
        else:
            out.append("[^\\n]" if char == "." else end if char == "$" and end else char)
            index += 1
    return "".join(out)


def _bracket_end(pattern: str, start: int) -> int:
    """The index after the ']' closing the bracket expression opened at `start`."""
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":  # a leading ] is a member
        index += 1
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
        elif pattern.startswith("[:", index):
            close = pattern.find(":]", index + 2)
            index = close + 2 if close >= 0 else index + 1
        elif pattern[index] == "]":
            return index + 1
        else:
            index += 1
    return len(pattern)


def spark_replace(node: exp.RegexpReplace) -> exp.Expression:
    modifiers = node.args.get("modifiers")
    flags = modifiers.name if isinstance(modifiers, exp.Literal) else None if modifiers is not None else ""
    if node.args.get("single_replace") and (flags is None or "g" not in flags):
        raise Refused(
            "regexp_replace(...) without the 'g' option replaces only the first match in DuckDB; spark has no "
            "first-only replace: pass 'g' to replace every match (regexp_replace(s, pattern, replacement, 'g'))", "regexp_replace")
    if flags and set(flags) - {"g"}:
        raise Refused(f"regexp_replace(...) option '{flags}' cannot run on spark (only 'g' can): "
                      "write the option into the pattern, e.g. '(?i)...' for 'i'")
    replacement = node.args.get("replacement")
    node = node.copy()
    node.set("modifiers", None)
    node.set("single_replace", None)
    if isinstance(replacement, exp.Literal) and replacement.is_string:
        # DuckDB (RE2) writes group n as \n and $ as itself; Spark (Java) as $n and \$
        text = re.sub(r"\\\\|\\(\d)|\$", _java_replacement, replacement.this)
        node.set("replacement", exp.Literal.string(text))
    return node


def _java_replacement(match: re.Match) -> str:
    if match.group(1):
        return f"${match.group(1)}"
    return "\\\\" if match.group(0) == "\\\\" else "\\$"
