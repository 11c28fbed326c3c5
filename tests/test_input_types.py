"""User mistakes of type (a number where a name goes, a repeated var, a seed in another
delimiter...) end as exit 2 at the file and line, never as "internal error"."""

from __future__ import annotations

import pytest

from toolkit.errors import ProjectError
from toolkit.modelkeywords import KEYWORD_TYPES
from toolkit.models import discover_models

MODEL = """\
from toolkit import model
from sklearn.linear_model import LogisticRegression


@model(training="train", key=["user_id", "country"], {keywords})
def big():
    return LogisticRegression()
"""

# keyword -> a value of the wrong type, as a user writes it (every keyword @model checks by type)
WRONG_TYPES = {
    "training": "5",
    "label": "5",
    "key": "5",
    "scoring_table": "5",
    "scoring": "5",
    "features": "5",
    "exclude": "[None]",
    "split": "5",
    "split_column": "5",
    "test_fraction": "'0.2'",
    "seed": "'x'",
    "metrics": "[5]",
    "gates": "5",
    "sample": "'0.5'",
    "segments": "[5]",
    "allow_tags": "5",
    "as_of": "5",
    "feature_times": "[5]",
    "outcomes": "5",
}


def _model_error(tmp_path, keyword: str, value: str) -> ProjectError:
    keywords = {"training": '"train"', "label": '"big"', "key": '["user_id", "country"]', keyword: value}
    declared = ", ".join(f"{name}={text}" for name, text in keywords.items())
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "big.py").write_text(MODEL.replace('training="train", key=["user_id", "country"], {keywords}', declared))
    with pytest.raises(ProjectError) as caught:
        discover_models(tmp_path)
    return caught.value


def test_every_typed_keyword_has_a_wrong_value_here():
    assert {keyword for keyword, _, _ in KEYWORD_TYPES.values()} == set(WRONG_TYPES)


@pytest.mark.parametrize("keyword", sorted(WRONG_TYPES))
def test_a_model_keyword_of_the_wrong_type_is_named_at_the_model_line(tmp_path, keyword):
    error = _model_error(tmp_path, keyword, WRONG_TYPES[keyword])
    message = str(error)
    assert error.file == "models/big.py" and error.line == 5, message
    assert f"{keyword} must be " in message and "got " in message and "importing" not in message, message


def test_keywords_of_the_right_type_in_any_spelling_pass(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "big.py").write_text(MODEL.replace("from toolkit", "import numpy as np\nfrom toolkit").format(
        keywords='label="big", metrics="roc_auc", features=("spend",), seed=np.int64(3), sample=np.float64(0.5), segments="country", gates={"roc_auc": 0.5}'))
    spec = discover_models(tmp_path)["big"]
    assert (spec.metrics, spec.features, spec.segments, spec.seed) == (["roc_auc"], ["spend"], ["country"], 3)


def test_the_message_says_what_was_given(tmp_path):
    message = str(_model_error(tmp_path, "metrics", "[5]"))
    assert "metrics must be a metric name or a list of metric names, got [5] (5 is int, not a string)" in message


def test_a_wrong_model_keyword_type_exits_2_from_the_cli(scaffold_project, run_cli):
    (scaffold_project / "features" / "train.sql").write_text(
        'select user_id, country, sum(amount) as spend, (sum(amount) > 100)::int as big from {{ source("app","events") }} group by 1, 2\n')
    (scaffold_project / "models" / "big.py").write_text(MODEL.format(keywords='label="big", sample="0.5"'))
    code, out, err = run_cli("plan", cwd=scaffold_project)
    assert code == 2 and "models/big.py:5: model big: sample must be a number, got '0.5' (str)" in err, out + err
    assert "internal error" not in err


# --- toolkit.toml: every setting of every built-in engine, of the wrong type -------------

WRONG_SETTINGS = [
    ("duckdb", "path", "5"),
    ("duckdb", "threads", '"x"'),
    ("duckdb", "threads", "0"),
    ("duckdb", "memory_limit", "4"),
    ("duckdb", "state", "5"),
    ("postgres", "url", "5"),
    ("postgres", "state", "[1]"),
    ("spark", "master", "2"),
    ("spark", "remote", "true"),
    ("spark", "conf", '"x"'),
    ("spark", "warehouse", "5"),
    ("spark", "state", "5"),
]


def _target_error(tmp_path, engine: str, key: str, value: str) -> ProjectError:
    from toolkit.config import load_config

    (tmp_path / "toolkit.toml").write_text(
        f'name = "p"\ntarget = "t"\n[targets.t]\nengine = "{engine}"\n{key} = {value}\n[vars]\nmin_amount = 0\n')
    with pytest.raises(ProjectError) as caught:
        load_config(tmp_path).target()
    return caught.value


@pytest.mark.parametrize("engine, key, value", WRONG_SETTINGS)
def test_a_target_setting_of_the_wrong_type_is_named_at_its_line(tmp_path, engine, key, value):
    error = _target_error(tmp_path, engine, key, value)
    assert (error.file, error.line) == ("toolkit.toml", 5), str(error)
    assert f"'targets.t.{key}' must be " in error.message and "got " in error.message, str(error)


def test_every_built_in_setting_is_type_checked():
    from toolkit.config import SETTING_TYPES
    from toolkit.engines import ENGINES

    settings = {setting for spec in ENGINES.values() for setting in spec.settings}
    assert settings == set(SETTING_TYPES)
    assert {(engine, key) for engine, key, _ in WRONG_SETTINGS} == {(engine, key) for engine, spec in ENGINES.items() for key in spec.settings}


def test_settings_of_the_right_type_pass(tmp_path, monkeypatch):
    from toolkit.config import load_config

    monkeypatch.setenv("THREADS", "2")
    (tmp_path / "toolkit.toml").write_text(
        'name = "p"\ntarget = "t"\n[targets.t]\nengine = "duckdb"\npath = "w.duckdb"\nthreads = "${THREADS}"\nmemory_limit = "1GB"\n')
    assert load_config(tmp_path).target().settings["threads"] == "2"


def test_a_wrong_path_type_exits_2_from_the_cli(scaffold_project, run_cli):
    (scaffold_project / "toolkit.toml").write_text('name = "p"\ntarget = "local"\n[targets.local]\nengine = "duckdb"\npath = 5\n[vars]\nmin_amount = 0\n')
    code, out, err = run_cli("plan", cwd=scaffold_project)
    assert code == 2 and "toolkit.toml:5: 'targets.local.path' must be a string" in err and "internal error" not in err, out + err


# --- --vars ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["min_amount=1,min_amount=5", '{"min_amount": 1, "min_amount": 5}'])
def test_a_var_given_twice_is_refused(text):
    from toolkit.config import parse_vars

    with pytest.raises(ProjectError, match="var 'min_amount' is given twice"):
        parse_vars(text)


def test_vars_given_twice_on_the_command_line_is_refused(scaffold_project, run_cli):
    """The second --vars silently replaced the first."""
    code, out, err = run_cli("plan", "--vars", '{"min_amount": 1}', "--vars", '{"min_amount": 2}', cwd=scaffold_project)
    assert code == 2 and "'--vars': given twice" in err and "Traceback" not in err, out + err
    assert run_cli("plan", "--vars", "min_amount=1", cwd=scaffold_project)[0] == 0


def test_a_list_where_a_name_is_wanted_is_said_so(tmp_path):
    error = _model_error(tmp_path, "label", '["big"]')
    assert "None is NoneType" not in error.message and "['big'] (list)" in error.message, error.message


def test_vars_given_once_each_are_read():
    from toolkit.config import parse_vars

    assert parse_vars("a=1,b=x") == {"a": 1, "b": "x"}
    assert parse_vars('{"a": {"x": 1}, "b": {"x": 2}}') == {"a": {"x": 1}, "b": {"x": 2}}


# --- seeds in another delimiter ---------------------------------------------------------------

@pytest.mark.parametrize("header, row, said", [
    ("country;region", "DE;Europe", "looks separated by ';'"),
    ("country\tregion", "DE\tEurope", "looks separated by tabs"),
    ("country|region", "DE|Europe", "looks separated by '|'"),
    ("country,region;zone", "DE,Europe", "column 'region;zone' of the header holds ';'"),
])
def test_a_seed_in_another_delimiter_is_refused_before_anything_runs(scaffold_project, run_cli, warehouse_snapshot, header, row, said):
    (scaffold_project / "warehouse" / "seeds" / "countries.csv").write_text(f"{header}\n{row}\n")
    before = warehouse_snapshot(scaffold_project / "warehouse" / "warehouse.duckdb")
    for command in ("plan", "run"):
        code, out, err = run_cli(command, cwd=scaffold_project)
        assert code == 2 and "warehouse/seeds/countries.csv:1: " in err and said in err, out + err
    assert warehouse_snapshot(scaffold_project / "warehouse" / "warehouse.duckdb") == before  # the seed was not published


# --- import-dbt: seed column types set for a folder or the project -------------------------------

def _dbt_seed_project(tmp_path, seeds_config: str, properties: str = ""):
    root = tmp_path / "dbtp"
    (root / "seeds").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "dbt_project.yml").write_text(f'name: s\nversion: "1.0"\nprofile: s\nseeds:\n  s:\n{seeds_config}')
    (root / "profiles.yml").write_text("s:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.duckdb\n")
    (root / "seeds" / "orders.csv").write_text("id,amount\n1,2\n")
    (root / "seeds" / "customers.csv").write_text("id,name\n1,a\n")
    (root / "models" / "m.sql").write_text('select * from {{ ref("orders") }}\n')
    if properties:
        (root / "seeds" / "properties.yml").write_text(properties)
    return root


def _missing_column_reports(tmp_path, root) -> list:
    from toolkit.dbtimport import import_dbt

    report, out = import_dbt(root, tmp_path / "out", check=False)
    return report.skipped.get(("seed column type", "the CSV header has no such column"), []), out


def test_project_wide_seed_column_types_are_not_reported_for_seeds_without_the_column(tmp_path):
    root = _dbt_seed_project(tmp_path, "    +column_types:\n      amount: double\n")
    missing, out = _missing_column_reports(tmp_path, root)
    assert missing == []
    assert "amount" in (out / "warehouse" / "seeds.toml").read_text()  # the seed that has it still gets it


@pytest.mark.parametrize("seeds_config, properties", [
    ("    customers:\n      +column_types:\n        amount: double\n", ""),
    ("    +enabled: true\n", "version: 2\nseeds:\n  - name: customers\n    config:\n      column_types:\n        amount: double\n"),
])
def test_a_seeds_own_column_type_for_a_missing_column_is_still_reported(tmp_path, seeds_config, properties):
    missing, _ = _missing_column_reports(tmp_path, _dbt_seed_project(tmp_path, seeds_config, properties))
    assert missing == [("amount", "seeds/customers.csv")]


# --- selectors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector", ["++a", "a++", "+", "++", "+a++", "++tag:x"])
def test_a_malformed_selector_is_refused(selector):
    from toolkit.dag import Dag

    with pytest.raises(ProjectError, match="is malformed"):
        Dag({"a": set(), "b": {"a"}}, {"a": {"x"}}).select([selector])


@pytest.mark.parametrize("selector, chosen", [("+b", {"a", "b"}), ("a+", {"a", "b"}), ("+b+", {"a", "b"}), ("b", {"b"}), ("+tag:x+", {"a", "b"})])
def test_well_formed_selectors_still_select(selector, chosen):
    from toolkit.dag import Dag

    assert Dag({"a": set(), "b": {"a"}}, {"a": {"x"}}).select([selector]) == chosen
