"""`toolkit init DIR`: a small working project — config, one source (created in
the project's DuckDB file), one seed and one feature step — that `toolkit run`
builds at once."""

from __future__ import annotations

import re
from pathlib import Path

from toolkit.errors import ProjectError

FILES = {
    "toolkit.toml": """\
name = "{name}"
dialect = "duckdb"          # the dialect features/ are written in
target = "local"            # where `toolkit run` builds (environments, --env, are another axis)

[targets.local]
engine = "duckdb"
path = "warehouse/warehouse.duckdb"   # not named after the project: a schema may be

[vars]
min_amount = 0
""",
    "warehouse/sources.toml": """\
# Tables that already exist in the warehouse. `toolkit init` created app.events
# in the DuckDB file; declare your own tables the same way.
[app]
schema = "app"

[app.tables.events]
description = "One row per user event."
columns = {{ event_id = "bigint", user_id = "bigint", country = "varchar", amount = "double", happened_at = "timestamp" }}
""",
    "warehouse/seeds/countries.csv": """\
country,region
DE,Europe
FR,Europe
US,Americas
JP,Asia
""",
    "features/country_totals.sql": """\
{{{{ config(materialized="table", tests={{"country": ["not_null", "unique"]}}) }}}}
-- Users and spend per country, with the region from the countries seed.
select
    e.country,
    c.region,
    count(distinct e.user_id) as users,
    sum(e.amount) as total_amount
from {{{{ source("app", "events") }}}} as e
left join {{{{ ref("countries") }}}} as c on c.country = e.country
where e.amount >= {{{{ var("min_amount") }}}}
group by e.country, c.region
""",
    "features/macros/.keep": "",
    "models/.keep": "",
}

SAMPLE_EVENTS = """\
create schema if not exists app;
create table if not exists app.events as
select
    range as event_id,
    range % 17 as user_id,
    ['DE', 'FR', 'US', 'JP'][1 + range % 4] as country,
    round((range * 37 % 1000) / 10.0, 2) as amount,
    timestamp '2025-01-01' + to_days(cast(range % 90 as integer)) as happened_at
from range(200)
"""


def project_name(directory: Path) -> str:
    """The name `toolkit init` gives a project in `directory`: its folder's, as a plain word."""
    return re.sub(r"\W+", "_", directory.resolve().name).strip("_").lower() or "project"


def scaffold(directory: Path, name: str | None = None) -> Path:
    name = name or project_name(directory)
    if directory.exists() and not directory.is_dir():
        raise ProjectError(f"{directory} is a file; toolkit init needs a new or empty folder")
    if directory.exists() and any(directory.iterdir()):
        raise ProjectError(f"{directory} is not empty; toolkit init needs a new or empty folder")
    try:
        for relative, text in FILES.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.format(name=name), encoding="utf-8")
    except OSError as error:  # a read-only or impossible place: the user's to fix, not a crash
        raise ProjectError(f"cannot create a project in {directory} ({error.strerror or error})") from None
    import duckdb

    with duckdb.connect(str(directory / "warehouse" / "warehouse.duckdb")) as connection:
        connection.execute(SAMPLE_EVENTS)
    return directory
