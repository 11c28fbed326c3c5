"""Cases failing on main (case id -> reason). Each runs as xfail(strict=True): when a
fix is merged the case XPASSes, the run fails, and its line here is deleted."""

KNOWN_FAILURES: dict[str, str] = {
    'config-engine-int': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'config-plan-engine-int': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'dag-name-too-long': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'dag-reserved-name-from': 'issue 18 item 13: smaller cases of item 13',
    'dag-reserved-name-select': 'issue 18 item 13: smaller cases of item 13',
    'files-step-is-folder': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'jinja-compile-config-twice': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'jinja-leaf-config-twice': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'jinja-new-config-twice': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'models-os-exit': 'issue 18 item 11: importing project code is not a failing step',
    'seeds-seed-reserved-name': 'issue 18 item 13: smaller cases of item 13',
    'sources-compile-wrong-type': 'issue 18 item 12: declared source types not checked',
    'sources-wrong-type': 'issue 18 item 12: declared source types not checked',
    'sql-leaf-join-without-on': 'issue 18 item 10: malformed SQL repaired or reported without a line',
    'sql-new-join-without-on': 'issue 18 item 10: malformed SQL repaired or reported without a line',
    'sql-step-join-without-on': 'issue 18 item 10: malformed SQL repaired or reported without a line',
    'stepconfig-incremental-no-time': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'stepconfig-leaf-incremental-no-time': 'issue 18 item 8: no clear exit-2 error naming the file and line',
}
