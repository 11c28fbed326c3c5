"""Regenerate known_failures.py from a pytest run of the suite with --runxfail -rf:

    .venv/bin/pytest -q -p no:cacheprovider --runxfail -rf tests/adversarial > /tmp/adv.log
    python tests/adversarial/refresh_known_failures.py /tmp/adv.log  # every log of the run

Each failing case id gets "issue 18 item N: <what failed>" (N from the case's kind).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ITEMS = [  # (pattern on the case id, issue 18 item, what it is about)
    (r"case-collision", 1, "names colliding after case folding"),
    (r"vars-type|vars-", 3, "var values are not type-checked"),
    (r"inject-var", 5, "var text reaches SQL outside a literal"),
    (r"inject-", 5, "hostile name or seed"),
    (r"read-text|read-csv|read-blob|glob|duckdb-settings|read-parquet|attach-like|include-file", 6, "file/system functions in a step"),
    (r"bomb|recursive-macro", 7, "template rendering has no limits"),
    (r"corrupt-duckdb", 9, "engine errors classified by substring"),
    (r"double-comma|dangling-order|select-from|trailing-group-by|empty-in|trailing-comma|union-dangling|where-without|having-alone|limit-no-number|between-half|bad-case|bad-cast|select-star-star|from-missing|join-without-on|keyword-as-alias|with-dangling|unbalanced|unclosed|not-sql|only-comment|empty-body", 10, "malformed SQL repaired or reported without a line"),
    (r"models-|model-", 11, "importing project code is not a failing step"),
    (r"sources-varchr|sources-wrong-type|sources-missing-column|sources-compile-varchr|sources-compile-wrong", 12, "declared source types not checked"),
    (r"unique-key|select-comma|reserved-name", 13, "smaller cases of item 13"),
]


def reason_for(case_id: str, failure: str) -> str:
    for pattern, item, about in ITEMS:
        if re.search(pattern, case_id):
            break
    else:
        item, about = 8, "no clear exit-2 error naming the file and line"
    failure = re.sub(r"\s+", " ", failure).strip()[:90]
    return f"issue 18 item {item}: {about}" + (f" ({failure})" if failure else "")


def main(*logs: str) -> None:
    """Replace the list with the failures in `logs` (keeping an existing entry's reason)."""
    found: dict[str, str] = {}
    for line in (line for log in logs for line in Path(log).read_text().splitlines()):
        match = re.match(r"(?:FAILED|ERROR) \S+?\[(.+?)\](?: - (.*))?$", line)
        if match:
            found[match.group(1)] = reason_for(match.group(1), match.group(2) or "")
    target = Path(__file__).with_name("known_failures.py")
    old = {}
    exec(compile(target.read_text(), str(target), "exec"), old)
    merged = {case_id: old["KNOWN_FAILURES"].get(case_id, reason) for case_id, reason in found.items()}
    body = "".join(f"    {case_id!r}: {reason!r},\n" for case_id, reason in sorted(merged.items()))
    header = target.read_text().split("KNOWN_FAILURES")[0]
    target.write_text(f"{header}KNOWN_FAILURES: dict[str, str] = {{\n{body}}}\n")
    print(f"{len(merged)} failing cases written")


if __name__ == "__main__":
    main(*sys.argv[1:])
