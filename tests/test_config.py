"""config.py: toolkit.toml vs [tool.toolkit], ${ENV} interpolation, validation, --vars."""

from __future__ import annotations

import textwrap

import pytest

from toolkit.config import load_config, parse_vars
from toolkit.errors import ProjectError

TOOLKIT_TOML = """\
name = "shop"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/shop.duckdb"

[vars]
horizon = 30
"""

PYPROJECT = """\
[project]
name = "shop"

[tool.toolkit]
name = "shop_py"

[tool.toolkit.targets.local]
engine = "duckdb"
path = "local.duckdb"

[tool.toolkit.vars]
horizon = 7
"""


def write(tmp_path, name: str, text: str):
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def error_of(tmp_path, text: str, name: str = "toolkit.toml") -> ProjectError:
    write(tmp_path, name, text)
    with pytest.raises(ProjectError) as caught:
        load_config(tmp_path).target()  # a target's entry is checked when it is chosen
    return caught.value


def test_toolkit_toml(tmp_path):
    config = load_config(write(tmp_path, "toolkit.toml", TOOLKIT_TOML))
    assert (config.name, config.dialect, config.default_target) == ("shop", "duckdb", "dev")
    assert config.vars == {"horizon": 30}
    target = config.target()
    assert (target.name, target.engine, target.settings) == ("dev", "duckdb", {"path": "warehouse/shop.duckdb"})


def test_pyproject_tool_section_and_defaults(tmp_path):
    config = load_config(write(tmp_path, "pyproject.toml", PYPROJECT))
    assert config.name == "shop_py"
    assert config.dialect == "duckdb"  # the default
    assert config.default_target == "local"  # the first target when none is named
    assert config.vars == {"horizon": 7}
    assert config.file.name == "pyproject.toml"


def test_a_project_configured_in_both_files_is_refused(tmp_path):
    """toolkit.toml won silently: an edit of [tool.toolkit] changed nothing."""
    write(tmp_path, "pyproject.toml", PYPROJECT)
    with pytest.raises(ProjectError, match="configured twice") as caught:
        load_config(write(tmp_path, "toolkit.toml", TOOLKIT_TOML))
    assert (str(caught.value.file), caught.value.line) == ("pyproject.toml", 4)
    write(tmp_path, "pyproject.toml", "[project]\nname = 'x'\n")  # a pyproject.toml of its own is fine
    assert load_config(tmp_path).name == "shop"


def test_pyproject_without_tool_section_is_not_a_project(tmp_path):
    write(tmp_path, "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(ProjectError, match="no toolkit project") as caught:
        load_config(tmp_path)
    assert "toolkit init" in caught.value.hint


def test_vars_override(tmp_path):
    config = load_config(write(tmp_path, "toolkit.toml", TOOLKIT_TOML), {"horizon": 90, "extra": "x"})
    assert config.vars == {"horizon": 90, "extra": "x"}


def test_env_interpolation(tmp_path, monkeypatch):
    text = TOOLKIT_TOML.replace('path = "warehouse/shop.duckdb"', 'path = "${TK_TEST_DIR}/${TK_TEST_FILE:-shop}.duckdb"')
    config = load_config(write(tmp_path, "toolkit.toml", text))
    monkeypatch.setenv("TK_TEST_DIR", "/data")
    monkeypatch.delenv("TK_TEST_FILE", raising=False)
    assert config.target().settings["path"] == "/data/shop.duckdb"  # the default after :-
    monkeypatch.setenv("TK_TEST_FILE", "prod")
    assert config.target().settings["path"] == "/data/prod.duckdb"  # the environment wins


def test_env_var_missing_names_file_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    text = TOOLKIT_TOML.replace('path = "warehouse/shop.duckdb"', 'path = "${NOT_SET_VAR}/x.duckdb"')
    config = load_config(write(tmp_path, "toolkit.toml", text))
    with pytest.raises(ProjectError) as caught:
        config.target()
    assert (caught.value.file, caught.value.line) == ("toolkit.toml", 7)
    assert "NOT_SET_VAR is not set" in caught.value.message


def test_env_var_of_an_unselected_target_is_not_needed(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    text = TOOLKIT_TOML + '\n[targets.other]\nengine = "duckdb"\npath = "${NOT_SET_VAR}"\n'
    config = load_config(write(tmp_path, "toolkit.toml", text))
    assert config.target("dev").settings["path"] == "warehouse/shop.duckdb"
    with pytest.raises(ProjectError, match="NOT_SET_VAR"):
        config.target("other")


def test_unknown_target(tmp_path):
    config = load_config(write(tmp_path, "toolkit.toml", TOOLKIT_TOML))
    with pytest.raises(ProjectError) as caught:
        config.target("deb")
    assert caught.value.hint == "did you mean 'dev'?"
    assert (caught.value.file, caught.value.line) == ("toolkit.toml", 5)


def test_toml_syntax_error_has_line_and_column(tmp_path):
    error = error_of(tmp_path, 'name = "shop"\n[targets.dev\n')
    assert (error.file, error.line, error.col) == ("toolkit.toml", 2, 13)
    assert error.message.startswith("invalid TOML")


@pytest.mark.parametrize("tail, message", [("x = ", "invalid TOML: Invalid value"), ("[x", "invalid TOML: Expected ']'")])
def test_toml_syntax_error_at_the_end_of_the_file_names_the_last_line(tmp_path, tail, message):
    """tomllib says "(at end of document)" with no position there: the last line, and a message without a dangling '('."""
    error = error_of(tmp_path, 'name = "shop"\n' + tail)
    assert (error.file, error.line, error.col) == ("toolkit.toml", 2, len(tail) + 1)
    assert error.message.startswith(message) and "(" not in error.message and "end of document" not in error.message, error.message


@pytest.mark.parametrize(
    "old, new, line, message, hint",
    [
        ('dialect = "duckdb"', 'dialetc = "duckdb"', 2, "unknown key 'dialetc'", "did you mean 'dialect'?"),
        ("path =", "paht =", 7, "unknown key 'targets.dev.paht' for engine duckdb", "did you mean 'path'?"),
        ('engine = "duckdb"', 'engine = "duckbd"', 6, "unknown engine 'duckbd'", "did you mean 'duckdb'?"),
        ('name = "shop"', "name = 1", 1, "'name' must be a string", None),
        ('target = "dev"', 'target = "prod"', 3, "names 'prod', which is not a target", None),
        ('dialect = "duckdb"', 'dialect = "duckql"', 2, "unknown SQL dialect 'duckql'", None),
    ],
)
def test_invalid_keys_name_the_line(tmp_path, old, new, line, message, hint):
    error = error_of(tmp_path, TOOLKIT_TOML.replace(old, new))
    assert (error.file, error.line) == ("toolkit.toml", line)
    assert message in error.message
    if hint:
        assert error.hint == hint


def test_pyproject_errors_use_the_full_key(tmp_path):
    error = error_of(tmp_path, PYPROJECT.replace('name = "shop_py"', 'name = "shop_py"\ndialetc = "x"'), "pyproject.toml")
    assert (error.file, error.line) == ("pyproject.toml", 6)
    assert "unknown key 'tool.toolkit.dialetc'" in error.message


def test_missing_name_and_targets(tmp_path):
    assert "missing key 'name'" in error_of(tmp_path, '[targets.dev]\nengine = "duckdb"\n').message
    assert "no targets" in error_of(tmp_path, 'name = "x"\n').message


def test_parse_vars():
    assert parse_vars(None) == {} and parse_vars("") == {}
    assert parse_vars('{"days": 30, "name": "x"}') == {"days": 30, "name": "x"}
    assert parse_vars("days=30, ratio=0.5, flag=true, name=shop") == {"days": 30, "ratio": 0.5, "flag": True, "name": "shop"}
    assert parse_vars("start=2024-01-01") == {"start": "2024-01-01"}


@pytest.mark.parametrize("text, message", [('{"days": }', "not valid JSON"), ("days", "expected key=value")])
def test_parse_vars_errors(text, message):
    with pytest.raises(ProjectError, match=message):
        parse_vars(text)
