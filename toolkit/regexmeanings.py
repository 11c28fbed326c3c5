"""DuckDB's regular expressions (RE2) kept on PostgreSQL (ARE) and Spark (Java), or refused.

The regex rows of toolkit/meanings.py's table, in detail (_translate):

- '.' matches any character but a newline in RE2; also a newline in PostgreSQL, and neither
  \\r, \\u0085, \\u2028 nor \\u2029 in Java: each '.' outside brackets is written [^\\n].
  PostgreSQL's newline-sensitive options (?n)/(?p) are no equivalent (they also keep [^a] off
  newlines, which RE2's matches). $ (the end of the text) is \\z on Spark, where $ also
  matches before a final newline. A pattern that is not a literal (nor a || or CASE of
  literals) is refused: its dots are known only when it runs.
- RE2's inline flags at the start of the pattern: (?s) keeps '.' as it is; (?m) writes ^ and
  $ as lookarounds on \\n (PostgreSQL's (?m) also keeps [^a] off newlines, Java's also stops
  at \\r and not after a final newline); (?i) is (?i) (Java: (?iu)). (?U) (ungreedy: Java's
  (?U) means Unicode classes, PostgreSQL has none) and flags inside the pattern are refused.
- regexp_replace's \\0 (the whole match) is \\& on PostgreSQL; a replacement that is not a
  literal is refused (\\1 is $1 on Spark).
- Escapes and brackets (toolkit/regexclasses.py): \\w \\d \\s (and negated), [[:alpha:]] and
  the other POSIX classes are written as RE2's ASCII sets (PostgreSQL's are Unicode; Java's \\s
  matches \\v and it reads [[:alpha:]] as letters); \\b \\B as lookarounds (PostgreSQL's \\b is a
  backspace, Java's counts 'é'); \\z is \\Z on PostgreSQL; \\Q...\\E the escaped text; (?P<name>x)
  is (x); \\x{41} \\U00000041 on PostgreSQL; '[' and '&' in brackets escaped on Spark; \\p{Greek}
  \\p{IsGreek} on Spark. Refused: \\pL and \\p{...} on PostgreSQL, a negated class among other
  members of a bracket ([a\\W]) on PostgreSQL, \\C.
- Left, known: (?i) on PostgreSQL folds neither the Kelvin sign (U+212A) onto k nor the long s
  (U+017F) onto s, as RE2 and Java's (?iu) do ('(?i)k' does not match U+212A there): exact only
  with the 'i' option known here too (~* is decided elsewhere), for two rare characters. (Java's
  own (?iu)\\W matched them, RE2's does not; its (?iu)[^0-9A-Z_a-z] does not either.) \\A, \\d and [^\\d]
  meant the same everywhere already.

Refused lives here, the lower of the two modules (meanings imports this one), and is
meanings.Refused too.
"""

from __future__ import annotations

import re
from typing import Callable

from sqlglot import exp

from toolkit.regexclasses import Untranslatable, bracket, escape


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
    if write == "postgres":
        _refuse_for_postgres(node)


def _refuse_for_postgres(node: exp.Expression) -> None:
    """DuckDB calls sqlglot writes for PostgreSQL word for word (or drops) that fail there when
    built or mean something else: refused at compile, before any step is built."""
    if isinstance(node, exp.TryCast):
        # sqlglot writes CAST: the build fails on the first text that does not convert
        raise Refused("try_cast(...) is not portable to postgres: its CAST fails on a value that does not convert "
                      "(DuckDB's try_cast gives NULL): filter or CASE the values first, e.g. "
                      "case when s ~ '^\\s*[+-]?[0-9]+\\s*$' then cast(s as bigint) end", "try_cast")
    if isinstance(node, exp.Mode):
        # PostgreSQL's mode() WITHIN GROUP (ORDER BY x) breaks a tie with the smallest value,
        # DuckDB's mode with the value it met first: a rewrite would publish other values
        raise Refused("mode(...) is not portable to postgres: its mode() WITHIN GROUP (ORDER BY ...) picks the "
                      "smallest of tied values, DuckDB the first it reads: count per value and pick one explicitly",
                      "mode")
    if isinstance(node, exp.Glob):
        raise Refused("GLOB is not portable to postgres (it has no GLOB): write LIKE with % and _ "
                      "(or a regular expression with ~)", "glob")


def similar_to(node: exp.SimilarTo, write: str) -> exp.Expression:
    """DuckDB's SIMILAR TO is a full match of a regular expression ('abc' SIMILAR TO 'a.*');
    PostgreSQL reads the pattern as SQL's (% and _ wildcards, . literal) and Spark has no
    SIMILAR TO: both get the regular expression translated and anchored at both ends."""
    matched = one_line_dots(node, "similar to", write, full=True)
    return exp.RegexpLike(this=matched.this, expression=matched.expression)


def postgres_replacement(node: exp.RegexpReplace) -> exp.RegexpReplace:
    r"""DuckDB (RE2) writes the whole match as \0; PostgreSQL as \& (its \0 is the text '\0')."""
    replacement = node.args.get("replacement")
    if not (isinstance(replacement, exp.Literal) and replacement.is_string and "\\" in replacement.this):
        return node
    text = re.sub(r"\\\\|\\0", lambda found: "\\&" if found.group(0) == "\\0" else found.group(0), replacement.this)
    node = node.copy()
    node.set("replacement", exp.Literal.string(text))
    return node


def one_line_dots(node: exp.Expression, name: str, write: str = "postgres", full: bool = False) -> exp.Expression:
    """`node` with its pattern (RE2) written for `write` (see _translate; `full`: anchored at
    both ends). A pattern that is not a literal (nor a concatenation or CASE of literals) is
    refused: its dots are known only when it runs."""
    pattern = node.expression
    try:
        rewritten = _each_literal(pattern, lambda text: _translate(text, write, full))
    except _Untranslatable as error:
        raise Refused(f"{name} with the pattern {pattern.sql('duckdb')} cannot run on {write} with DuckDB's "
                      f"meaning: {error}", name.split()[0]) from None
    if rewritten is None:
        raise Refused(f"{name} with the pattern {pattern.sql('duckdb')}, which is not a string literal, "
                      f"cannot run on {write} with DuckDB's meaning ('.' and $ treat newlines otherwise there): "
                      "write the pattern as a literal", name.split()[0])
    if rewritten is pattern:
        return node
    node = node.copy()
    node.set("expression", rewritten)
    return node


_Untranslatable = Untranslatable
# RE2's named group (?P<name>...), and the (?<name>...) newer RE2 takes
_NAMED_GROUP = re.compile(r"\(\?P?<[A-Za-z0-9_]+>")

# (?flags) or (?flags-flags): RE2's inline flags, i m s U
_FLAG_GROUP = re.compile(r"\(\?([A-Za-z]*)(?:-([A-Za-z]*))?\)")
# a flag group anywhere, or flags for a group only: (?i:...)
_ANY_FLAGS = re.compile(r"\(\?(?:[A-Za-z]+(?:-[A-Za-z]*)?|-[A-Za-z]+)[:)]")


def _leading_flags(pattern: str) -> tuple[set[str], set[str], str]:
    """The flags the (?flags) groups at the start of `pattern` leave set, those they clear
    ((?-i)), and the rest of the pattern."""
    flags: set[str] = set()
    cleared: set[str] = set()
    index = 0
    while (found := _FLAG_GROUP.match(pattern, index)) and (found.group(1) or found.group(2)):
        on, off = set(found.group(1)), set(found.group(2) or "")
        if (on | off) - set("imsU"):
            raise _Untranslatable(f"({found.group(0)[1:-1]}) is not a DuckDB (RE2) flag (i, m, s and U are)")
        flags, cleared = (flags | on) - off, (cleared | off) - on
        index = found.end()
    return flags, cleared, pattern[index:]


def _translate(pattern: str, write: str, full: bool = False) -> str:
    r"""An RE2 pattern written with the same meaning for `write` ("postgres": ARE, "spark": Java).

    '.' matches any character but \n in RE2, also \n in PostgreSQL, neither \r, \u0085, \u2028
    nor \u2029 in Java: [^\n]; (?s) at the start (dot matches \n) keeps it '.' (Java: with its
    (?s)). $ is the end of the text in RE2, before a final newline too in Java: \z there.
    (?m) makes ^ and $ match at each \n in RE2; PostgreSQL's (?m)/(?n)/(?w) and Java's (?m)
    treat [^a], \r or the end of the text otherwise: ^ as (?<![^\n]) and $ as (?![^\n]).
    (?i) is (?i) there (Java: (?iu), Unicode case like RE2's), and (?-i) PostgreSQL's (?c) (over
    the 'i' option's ~*). Refused: (?U) (ungreedy; Java's (?U) means Unicode classes), and flags
    anywhere but at the start (PostgreSQL takes none elsewhere)."""
    flags, cleared, body = _leading_flags(pattern)
    if "U" in flags:
        raise _Untranslatable("(?U) (ungreedy) has no equivalent there: drop it and write each "
                              "quantifier's lazy form instead (a+? for a+, a*? for a*)")
    found = _ANY_FLAGS.search(_outside_brackets(body))
    if found:
        written = found.group(0) + ("...)" if found.group(0).endswith(":") else "")
        raise _Untranslatable(f"toolkit writes inline flags for {write} only as (?flags) at the start of the "
                              f"pattern, not as {written}: move them there, e.g. '(?i)abc'")
    spark = write == "spark"
    body = _rewrite(body, write, dotall="s" in flags, multiline="m" in flags, end=r"\z" if spark else "$")
    if full:
        body = f"^(?:{body})" + (r"\z" if spark else "$")
    options = ("iu" if spark else "i") * ("i" in flags) + ("s" if spark and "s" in flags else "")
    if not spark and "i" in cleared:  # regexp_matches(s, '(?-i)A', 'i'): (?c) overrides ~*'s case there
        options += "c"
    return f"(?{options}){body}" if options else body


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
    written into the pattern as (?i), which _translate writes for Java."""
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
        node.set("expression", exp.DPipe(this=exp.Literal.string("(?i)"), expression=node.expression))
    return node


def _rewrite(pattern: str, write: str, dotall: bool, multiline: bool, end: str) -> str:
    r"""Each '.', ^ and $ outside brackets and escapes as _translate says; escapes, brackets
    and (?P<name>...) as toolkit/regexclasses.py says (RE2 syntax kept otherwise)."""
    line_start, line_end = "(?<![^\\n])", "(?![^\\n])"
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            text, index = escape(pattern, index, write)
            out.append(text)
        elif char == "[":
            close = _bracket_end(pattern, index)
            out.append(bracket(pattern[index:close], write))
            index = close
        elif (named := _NAMED_GROUP.match(pattern, index)):  # numbered as the group it is
            out.append("(")
            index = named.end()
        else:
            if char == "." and not dotall:
                char = "[^\\n]"
            elif char == "$":
                char = line_end if multiline else end
            elif char == "^" and multiline:
                char = line_start
            out.append(char)
            index += 1
    return "".join(out)


def _outside_brackets(pattern: str) -> str:
    """`pattern` with its escapes and bracket expressions blanked (to search its syntax)."""
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("\\Q", index):  # \Q...\E: literal text
            close = pattern.find("\\E", index)
            close = len(pattern) if close < 0 else close + 2
            out.append(" " * (close - index))
            index = close
        elif pattern[index] == "\\":
            out.append("  ")
            index += 2
        elif pattern[index] == "[":
            close = _bracket_end(pattern, index)
            out.append(" " * (close - index))
            index = close
        else:
            out.append(pattern[index])
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
