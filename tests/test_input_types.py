"""User mistakes of type (a number where a name goes, a repeated var, a seed in another
delimiter...) end as exit 2 at the file and line, never as "internal error"."""

from __future__ import annotations

import pytest

from toolkit.errors import ProjectError
from toolkit.model_keywords import KEYWORD_TYPES
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
