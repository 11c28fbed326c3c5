"""Sensitive data through lineage (issue 14 item 4): tags declared on source and seed
columns reach every column derived from them; a model learning from a pii-derived
feature is exit 2 at its @model line with the path back to the tagged column, unless
it allows the tag; `toolkit ls --tag pii` lists the derived columns."""

from __future__ import annotations

import json

import pytest

SOURCES = """\
[app]
[app.tables.customers]
columns = { customer_id = "bigint", email = "varchar", segment = "varchar", churned = "integer" }
tags = { email = ["pii"], segment = ["sensitive"] }
"""

FILES = {
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/regions.csv": "segment,owner_email\na,x@example.com\nb,y@example.com\n",
    "warehouse/seeds.toml": '[regions]\ntags = { owner_email = ["pii"] }\n',
    "features/macros/text.sql": "{% macro domain(column) %}split_part({{ column }}, '@', 2){% endmacro %}\n",
    "features/clean.sql": """\
select customer_id, lower(email) as email, segment, churned
from {{ source("app", "customers") }}
""",
    "features/training.sql": """\
with base as (select * from {{ ref("clean") }} where email is not null)
select b.customer_id, {{ domain("b.email") }} as email_domain, b.customer_id % 7 as bucket,
       length(b.segment) as segment_length, r.owner_email as owner, b.churned
from base as b left join {{ ref("regions") }} as r on r.segment = b.segment
""",
}


def model_file(extra: str = "", features: str = "") -> str:
    return f"""\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="training", label="churned", key="customer_id"{features}{extra})
def churn():
    return LogisticRegression()
"""


@pytest.fixture
def tagged(make_project):
    return lambda model, name="project": make_project({**FILES, "models/churn.py": model}, name=name)


def test_a_feature_derived_through_two_steps_and_a_macro_is_caught_with_its_path(tagged, run_cli):
    root = tagged(model_file(features=', features=["bucket", "email_domain"]'))
    code, out, err = run_cli("ls", cwd=root)
    assert code == 2, out + err
    assert "models/churn.py:5" in err and "feature 'email_domain' derives from a pii-tagged column" in err, err
    assert "features.training.email_domain <- features.clean.email <- app.customers.email" in err, err
    assert "allow_tags" in err and "Traceback" not in err


def test_a_column_used_only_to_filter_or_join_carries_no_tag(tagged, run_cli):
    root = tagged(model_file(features=', features=["bucket", "segment_length"]'))
    code, out, err = run_cli("ls", "--tag", "pii", "--log-format", "json", cwd=root)
    assert code == 0, out + err
    columns = {event["column"]: event["path"] for event in map(json.loads, out.splitlines())}
    assert columns == {
        "app.customers.email": [],
        "raw.regions.owner_email": [],
        "features.clean.email": ["app.customers.email"],
        "features.training.email_domain": ["features.clean.email", "app.customers.email"],
        "features.training.owner": ["raw.regions.owner_email"],
    }
    code, out, err = run_cli("ls", "--tag", "sensitive", cwd=root)
    assert code == 0 and "features.training.segment_length <- features.clean.segment <- app.customers.segment" in out, out + err


def test_a_tag_through_an_ephemeral_step_names_the_step_not_a_table_it_does_not_have(tagged, run_cli):
    root = tagged(model_file(features=', features=["bucket", "segment_length"]'))
    clean = (root / "features" / "clean.sql").read_text(encoding="utf-8")
    (root / "features" / "clean.sql").write_text('{{ config(materialized="ephemeral") }}\n' + clean, encoding="utf-8")
    code, out, err = run_cli("ls", "--tag", "pii", cwd=root)
    assert code == 0, out + err
    assert "features.clean" not in out and "features.training.email_domain <- clean.email <- app.customers.email" in out, out


def test_a_seed_column_tag_blocks_too_and_an_allowed_tag_passes(tagged, run_cli):
    root = tagged(model_file())  # every column but key and label: owner (from the seed) and email_domain
    code, out, err = run_cli("ls", cwd=root)
    assert code == 2 and "derives from a pii-tagged column" in err, out + err
    root = tagged(model_file(extra=', allow_tags=["pii"]'), "allowed")
    code, out, err = run_cli("ls", cwd=root)
    assert code == 0, out + err


@pytest.mark.parametrize("tags, message", [
    ('tags = { mail = ["pii"] }', "tags name column 'mail', which it does not declare"),
    ('tags = { email = [1] }', "the tags of column 'email' must be a list of names"),
    ('tags = ["pii"]', "tags must map columns to lists of tags"),
])
def test_bad_tags_are_exit_2_at_the_sources_file(make_project, run_cli, tags, message):
    sources = SOURCES.replace('tags = { email = ["pii"], segment = ["sensitive"] }', tags)
    root = make_project({**FILES, "warehouse/sources.toml": sources, "models/churn.py": model_file()})
    code, out, err = run_cli("ls", cwd=root)
    assert code == 2 and message in err and "warehouse/sources.toml:4" in err, out + err


def test_tag_names_have_no_case(make_project, run_cli):
    """A careless `PII` is the pii tag: it blocks, lists under --tag pii, and is allowed as "Pii"."""
    sources = SOURCES.replace('email = ["pii"]', 'email = ["PII"]')
    files = {**FILES, "warehouse/sources.toml": sources}
    root = make_project({**files, "models/churn.py": model_file(features=', features=["email_domain"]')})
    code, out, err = run_cli("ls", cwd=root)
    assert code == 2 and "derives from a pii-tagged column" in err, out + err
    root = make_project({**files, "models/churn.py": model_file(features=', features=["email_domain"]', extra=', allow_tags=["Pii"]')},
                        name="allowed")
    code, out, err = run_cli("ls", "--tag", "PII", cwd=root)
    assert code == 0 and "features.training.email_domain <- features.clean.email <- app.customers.email" in out, out + err
