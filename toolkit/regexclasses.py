r"""RE2's escapes, character classes and bracket expressions written for PostgreSQL (ARE) and
Spark (Java) with RE2's meaning: the part of toolkit/regexmeanings.py's rewriting that reads
escapes and brackets (regexmeanings' _rewrite calls escape() and bracket()).

RE2's classes are ASCII; ARE's are Unicode (\w, [[:alpha:]] match 'é', \s an em space) and
Java's \s also matches \v, its \b counts 'é' a word character and it reads [[:alpha:]] as the
set of ':', 'a', 'l', 'p', 'h'. Each class is therefore written as its ASCII members:

- \w \d \s as [0-9A-Za-z_], [0-9], [\t\n\f\r ] (\W \D \S negated), on both targets; inside a
  bracket their members ([\w-] is [0-9A-Za-z_-]). A negated one among other members ([a\W])
  is a nested class on Spark ([a[^0-9A-Za-z_]]) and refused on PostgreSQL (its complement
  as ranges would be folded by (?i) onto k and s); alone ([\W], [^\W]) it is the class.
- [[:alpha:]] and the other POSIX classes ([[:^alpha:]] negated): likewise, RE2's ASCII sets.
- \b and \B: lookarounds on [0-9A-Za-z_] (PostgreSQL's \b is a backspace, its \y Unicode).
- \z: \Z on PostgreSQL (its end of text); \Q...\E: the text with each symbol escaped;
  \x{41}: \U00000041 on PostgreSQL.
- \pL, \p{Greek}: refused on PostgreSQL (it has no Unicode classes); on Spark a script is
  \p{IsGreek} (categories as they are). \C (one byte) is refused.
- On Spark a '[' or '&' inside a bracket is escaped: Java reads them as a nested class or an
  intersection ([a&&b]), RE2 as members.
"""

from __future__ import annotations

import re


class Untranslatable(Exception):
    """A literal pattern with no same-meaning spelling on the target; the message says why."""


_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
# RE2's classes: code point ranges (RE2's \s has no \v; its [[:space:]] does)
CLASSES = {
    "w": _WORD, "d": [(0x30, 0x39)], "s": [(9, 10), (12, 13), (32, 32)],
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)], "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0, 0x7F)], "blank": [(9, 9), (32, 32)], "cntrl": [(0, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)], "graph": [(0x21, 0x7E)], "lower": [(0x61, 0x7A)], "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)], "space": [(9, 13), (32, 32)],
    "upper": [(0x41, 0x5A)], "word": _WORD, "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL = {"w": "w", "d": "d", "s": "s", "W": "w", "D": "d", "S": "s"}
_WORD_CLASS = "[0-9A-Za-z_]"
_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))"
_NOT_BOUNDARY = f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))"
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")
_PROPERTY = re.compile(r"\\[pP](?:\{\^?[A-Za-z_]*\}|[A-Za-z])")
_HEX = re.compile(r"\\x\{([0-9A-Fa-f]+)\}")


def _char(code: int, write: str) -> str:
    """One code point as text a bracket takes: ARE's \\uXXXX, Java's \\x{...}."""
    if chr(code).isalnum() and code < 0x80 or code in (0x20, 0x5F):
        return chr(code)
    return f"\\x{{{code:x}}}" if write == "spark" else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _members(ranges: list[tuple[int, int]], write: str) -> str:
    if write == "postgres":  # its text holds no NUL, and it takes no \u0000
        ranges = [(max(low, 1), high) for low, high in ranges]
    return "".join(_char(low, write) if low == high else f"{_char(low, write)}-{_char(high, write)}"
                   for low, high in ranges)


def _class(name: str, negated: bool, write: str) -> str:
    return f"[{'^' if negated else ''}{_members(CLASSES[name], write)}]"


def escape(pattern: str, index: int, write: str) -> tuple[str, int]:
    r"""The escape at `index` (outside brackets) written for `write`, and the index after it."""
    letter = pattern[index + 1:index + 2]
    if letter in _PERL:
        return _class(_PERL[letter], letter.isupper(), write), index + 2
    if letter in ("b", "B"):
        return (_BOUNDARY if letter == "b" else _NOT_BOUNDARY), index + 2
    if letter == "z" and write == "postgres":
        return "\\Z", index + 2
    if letter == "Q":
        close = pattern.find("\\E", index + 2)
        end = len(pattern) if close < 0 else close
        text = "".join(char if char.isalnum() or char == "_" else "\\" + char for char in pattern[index + 2:end])
        return text, end if close < 0 else end + 2
    if letter == "C":
        raise Untranslatable("\\C (any one byte) has no equivalent there: write '.' for any one character")
    found = _HEX.match(pattern, index)
    if found and write == "postgres":
        return f"\\U{int(found.group(1), 16):08x}", found.end()
    found = _PROPERTY.match(pattern, index)
    if found:
        return _property(found.group(0), write), found.end()
    return pattern[index:index + 2], index + 2


def _property(text: str, write: str) -> str:
    r"""\pL, \p{Greek}: Unicode classes; none in PostgreSQL; Java names a script \p{IsGreek}."""
    if write == "postgres":
        raise Untranslatable(f"{text} (a Unicode class) has no equivalent on PostgreSQL: "
                             "list the characters or ranges in brackets, e.g. [a-zA-Z]")
    name = text[3:-1] if text[2] == "{" else text[2]
    if name.startswith("^"):
        raise Untranslatable(f"{text} is written {text[:2].swapcase()}{{{name[1:]}}} there: write it so")
    if len(name) <= 2:  # a general category: L, Lu, N, ...
        return text
    if name == "Any":
        return "[\\x{0}-\\x{10FFFF}]"
    return f"{text[:2]}{{Is{name}}}"


def bracket(text: str, write: str) -> str:
    r"""The bracket expression `text` ('[...]', as regexmeanings' _bracket_end bounds it)
    written for `write`: its classes as their ASCII members, '[' and '&' escaped on Spark."""
    negated = text.startswith("[^")
    index = 2 if negated else 1
    items: list[tuple[str, str, bool]] = []  # (kind, text, negated): kind "members" or "class"
    if text[index:index + 1] == "]":  # a leading ] is a member
        items.append(("members", "\\]", False))
        index += 1
    end = len(text) - 1 if text.endswith("]") else len(text)
    while index < end:
        char = text[index]
        posix = _POSIX.match(text, index)
        if char == "\\" and text[index + 1:index + 2] in _PERL:
            letter = text[index + 1]
            items.append(("class", _PERL[letter], letter.isupper()))
            index += 2
        elif char == "\\":
            found = _PROPERTY.match(text, index)
            if found:
                items.append(("members", _property(found.group(0), write), False))
                index = found.end()
                continue
            found = _HEX.match(text, index) if write == "postgres" else None
            items.append(("members", f"\\U{int(found.group(1), 16):08x}" if found else text[index:index + 2], False))
            index = found.end() if found else index + 2
        elif posix:
            if posix.group(2) not in CLASSES:
                raise Untranslatable(f"[{posix.group(0)}] is not a DuckDB (RE2) class")
            items.append(("class", posix.group(2), bool(posix.group(1))))
            index = posix.end()
        else:
            items.append(("members", "\\" + char if write == "spark" and char in "[&" else char, False))
            index += 1
    return _bracket_text(items, negated, write, text)


def _bracket_text(items: list[tuple[str, str, bool]], negated: bool, write: str, text: str) -> str:
    if len(items) == 1 and items[0][0] == "class":  # [\W], [^\W], [[:^alpha:]]: the class itself
        return _class(items[0][1], items[0][2] != negated, write)
    parts = []
    for kind, item, inverted in items:
        if kind == "members":
            parts.append(item)
        elif not inverted:
            parts.append(_members(CLASSES[item], write))
        elif write == "spark":  # Java: a nested class is a union
            parts.append(_class(item, True, write))
        else:
            raise Untranslatable(f"the bracket {text} holds a negated class among other members; PostgreSQL's "
                                 "classes are Unicode and the ASCII complement has no bracket spelling there: "
                                 "write it as an alternative, e.g. (?:[a-c]|\\W) for [a-c\\W]")
    return f"[{'^' if negated else ''}{''.join(parts)}]"
