"""The generated corpus of broken projects (cases.py): each must be refused with the
bad-input contract and leave every published relation as it was.

Cases listed in known_failures.py fail on main today; they are xfail(strict=True) so
that a merged fix makes them XPASS and the entry is deleted.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _projects import cli_args, cli_tuple, env, write_files
from cases import BASE_FILES, CASES, LEAF, STEP, Case
from known_failures import KNOWN_FAILURES
from published import published_state

pytestmark = pytest.mark.slow
DATABASE = "warehouse/warehouse.duckdb"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The scaffolded project plus a downstream view, published once; copied per case."""
    from toolkit.scaffold import scaffold

    root = scaffold(tmp_path_factory.mktemp("adversarial") / "shop", "shop")
    write_files(root, BASE_FILES)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    return root


def _apply(root: Path, files: dict) -> None:
    for relative, data in files.items():
        path = root / relative
        if data is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")


def _limits() -> None:  # a template bomb must not take the shared machine down
    resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def invoke(root: Path, args: tuple, in_subprocess: bool, monkeypatch, capsys) -> tuple[int, str, str]:
    if in_subprocess:
        try:
            done = subprocess.run(cli_args(*args), cwd=root, env=env(), capture_output=True, text=True, timeout=60, preexec_fn=_limits)
        except subprocess.TimeoutExpired:
            return -1, "", "timed out after 60 s"
        return done.returncode, done.stdout, done.stderr
    from toolkit.cli import main

    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as error:  # noqa: BLE001 - any escape is a finding, shown in the assertion
        captured = capsys.readouterr()
        return 99, captured.out, f"{captured.err}\nTraceback (escaped main): {type(error).__name__}: {error}"
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check(case: Case, code: int, out: str, err: str) -> None:
    expected = case.code if isinstance(case.code, tuple) else (case.code,)
    shown = f"exit {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert code in expected, shown
    assert "Traceback" not in out + err, shown
    assert "internal error" not in err, shown
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, shown
    assert len(lines) <= (3 if case.category == "CLI" else 1), shown  # click's usage errors: Usage/Try/Error
    assert max(map(len, lines)) <= 400, shown
    if case.where:
        message = lines[-1]
        # a changed source or seed may be reported at the step line that reads it
        readers = (STEP, LEAF) if case.category in ("sources", "seeds") else ()
        where = next((name for name in (case.where, *readers) if name in message), case.where)
        assert where in message, shown
        if case.line or where in readers:
            assert re.search(re.escape(where) + r":\d+", message), shown


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case.id])] if case.id in KNOWN_FAILURES else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_broken_project_is_refused_and_changes_nothing(case: Case, base: Path, tmp_path: Path, monkeypatch, capsys):
    root = tmp_path / "shop"
    shutil.copytree(base, root)
    database = root / DATABASE
    schemas = ("features", "predictions") if 1 in (case.code if isinstance(case.code, tuple) else (case.code,)) else ("features", "predictions", "toolkit")
    before = published_state(database, schemas)
    _apply(root, case.files)
    code, out, err = invoke(root, case.args, case.subprocess, monkeypatch, capsys)
    check(case, code, out, err)
    if DATABASE not in case.files:  # the corrupt-file case replaces the database itself
        after_schemas = schemas if code == 2 else ("features", "predictions")
        assert published_state(database, after_schemas) == {k: v for k, v in before.items() if k.split(".")[0] in after_schemas}
