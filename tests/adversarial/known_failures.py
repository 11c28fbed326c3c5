"""Cases failing on main (case id -> reason). Each runs as xfail(strict=True): when a
fix is merged the case XPASSes, the run fails, and its line here is deleted."""

KNOWN_FAILURES: dict[str, str] = {
    'dag-name-too-long': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'models-os-exit': 'issue 18 item 11: importing project code is not a failing step',
    'stepconfig-incremental-no-time': 'issue 18 item 8: no clear exit-2 error naming the file and line',
    'stepconfig-leaf-incremental-no-time': 'issue 18 item 8: no clear exit-2 error naming the file and line',
}
