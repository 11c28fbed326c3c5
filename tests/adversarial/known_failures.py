"""Cases failing on main (case id -> reason). Each runs as xfail(strict=True): when a
fix is merged the case XPASSes, the run fails, and its line here is deleted."""

KNOWN_FAILURES: dict[str, str] = {
}
