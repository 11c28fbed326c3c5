"""`toolkit lineage` and `toolkit docs` (issue 16): column lineage against hand-written
expectations for the demo, the site for the demo (built once for the module) and for a
small project run on PostgreSQL (from the warehouse state alone), bad input (exit 2),
and the demo site in a real headless Chromium (Debian's chromium + chromium-driver,
through Selenium): no console errors, one DAG node per step, a clicked column shows
its upstream columns, the churn card shows its ROC curve and production version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_postgres import copy_example

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def site_data(folder: Path) -> dict:
    text = (folder / "data.js").read_text(encoding="utf-8")
    prefix = "window.TOOLKIT_DOCS = "
    assert text.startswith(prefix)
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo, generated and run once on DuckDB, and its site (about 12 s)."""
    root = copy_example(tmp_path_factory.mktemp("docs") / "shop")
    subprocess.run([sys.executable, "warehouse/generate.py"], cwd=root, check=True, capture_output=True)
    from _projects import cli_tuple

    code, out, err = cli_tuple("run", cwd=root, timeout=300)
    assert code == 0, out + err
    code, out, err = cli_tuple("docs", "--out", str(root / "site"), cwd=root)
    assert code == 0, out + err
    return root


# -- lineage ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph():
    from toolkit import lineage
    from toolkit.compiler import compile_project

    return lineage.build(compile_project(REPO))


def upstream(graph, column: str) -> set[str]:
    from toolkit import lineage  # noqa: F401

    start = graph.resolve(column)
    return {f"{r}.{c}" for (r, c), _, _ in graph.walk(start, "upstream")}


def test_lineage_through_select_star_joins_and_macros(graph):
    # churn_training is `select f.*, l.churned from customer_features f join customer_labels l`;
    # tenure_days is days_between(c.signed_up_at, s.snapshot_date), a macro, in customer_snapshots
    assert graph.upstream_of("features.churn_training", "tenure_days") == [("features.customer_features", "tenure_days")]
    assert upstream(graph, "churn_training.tenure_days") == {
        "features.customer_features.tenure_days", "features.customer_snapshots.tenure_days",
        "shop.customers.signed_up_at", "features.snapshot_dates.snapshot_date",
    }
    # before_snapshot(w.started_at, s.snapshot_date, 30) inside avg(case ...): a macro and a left join
    assert set(graph.upstream_of("features.customer_engagement", "avg_session_seconds_30d")) == {
        ("shop.web_sessions", "duration_seconds"), ("shop.web_sessions", "started_at"), ("features.customer_snapshots", "snapshot_date"),
    }
    # a seed column through a view (scoring_population is `select f.*` with a subquery filter)
    assert upstream(graph, "features.scoring_population.region") == {
        "features.customer_features.region", "features.customer_snapshots.region", "raw.country_regions.region",
    }


def test_lineage_through_ctes(graph):
    # customer_category_mix: two CTEs (lines, spend), safe_divide() and a seed joined in the first
    assert set(graph.upstream_of("features.customer_category_mix", "share_essentials_90d")) == {
        ("raw.category_groups", "category_group"), ("shop.order_items", "quantity"), ("shop.order_items", "unit_price"),
    }
    assert graph.upstream_of("features.customer_category_mix", "categories_90d") == [("shop.products", "category")]


def test_lineage_downstream_reaches_the_predictions(graph):
    start = graph.resolve("shop.orders.returned_at")
    reached = {f"{r}.{c}" for (r, c), _, _ in graph.walk(start, "downstream")}
    assert {"features.customer_orders.returned_at", "features.customer_rfm.returns_lifetime",
            "features.churn_training.returns_lifetime", "predictions.churn.prediction", "predictions.spend.prediction"} <= reached
    assert "features.churn_training.churned" not in reached


def test_lineage_command_and_its_bad_input(run_cli):
    code, out, err = run_cli("lineage", "churn_training.tenure_days", cwd=REPO)
    assert code == 0, err
    assert out.splitlines()[:2] == ["features.churn_training.tenure_days", "<- features.customer_features.tenure_days"]
    code, out, err = run_cli("lineage", "customer_snapshots.country", "--downstream", "--json", cwd=REPO)
    assert code == 0, err
    document = json.loads(out)
    assert document["direction"] == "downstream"
    assert {"features.customer_features.country", "predictions.churn.prediction"} <= {c["column"] for c in document["columns"]}
    for argument, message in (("churn_training", "is not TABLE.COLUMN"), ("churn_traning.x", "did you mean 'churn_training'"),
                              ("churn_training.tenure_dayz", "did you mean 'tenure_days'")):
        code, out, err = run_cli("lineage", argument, cwd=REPO)
        assert code == 2 and message in err and "Traceback" not in err, (argument, err)


# -- the site -----------------------------------------------------------------------------


def test_the_demo_site(demo):
    data = site_data(demo / "site")
    from toolkit.compiler import compile_project

    compiled = compile_project(demo)
    steps = {s.relation.sql().lower() for s in compiled.steps.values()}
    assert {n["id"] for n in data["dag"]["nodes"] if n["kind"] != "source"} == steps
    training = data["relations"]["features.churn_training"]
    assert training["description"].startswith("One row per (customer_id, snapshot_date)")
    assert {t["test"]: t["status"] for t in training["tests"]}["not_null(churned)"] == "pass"
    assert training["runs"][0]["status"] == "success" and "\"f\".\"orders_90d\" > 0" in training["compiled"]
    column = next(c for c in training["columns"] if c["name"] == "tenure_days")
    assert column["upstream"] == ["features.customer_features.tenure_days"] and column["type"]
    churn = data["models"]["churn"]
    assert churn["production"] == 1 and churn["production_since"]
    version = churn["versions"][0]
    split = version["evaluation"]["split"]
    assert split["kind"] == "time" and split["cutoff"] > split["train_until"]
    assert split["train_rows"] + split["test_rows"] == sum(version["evaluation"]["classes"]["train"]) + sum(version["evaluation"]["classes"]["test"])
    assert {"roc", "pr", "calibration", "confusion"} <= set(version["plots"]) and "<svg" in version["plots"]["roc"]
    assert {c["name"] for c in version["candidates"]} == {"logistic_regression", "gradient_boosting"}
    spend = data["models"]["spend"]["versions"][0]
    assert {"predicted_vs_actual", "residuals"} <= set(spend["plots"]) and "roc" not in spend["plots"]
    assert data["runs"][0]["status"] == "success"
    assert churn["drift"]  # monitoring rows of the first scoring


def test_descriptions_from_config_and_bad_input(make_project, run_cli, tmp_path):
    root = make_project({
        "features/a.sql": """
            {{ config(description="Numbers.", columns={"x": "what x means"}, meta={"owner": "ana"}) }}
            select 1 as x, 2 as y
        """,
    })
    assert run_cli("run", cwd=root)[0] == 0
    code, out, err = run_cli("docs", "--out", str(tmp_path / "site"), cwd=root)
    assert code == 0, out + err
    page = site_data(tmp_path / "site")["relations"]["features.a"]
    assert page["description"] == "Numbers." and page["meta"] == {"owner": "ana"}
    assert {c["name"]: c["description"] for c in page["columns"]} == {"x": "what x means", "y": ""}
    code, out, err = run_cli("docs", "--out", str(tmp_path / "site"), cwd=root)  # an earlier site is rewritten
    assert code == 0, out + err

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for args, message in ((["--out", str(tmp_path / "taken")], "other files in it"), (["--out", str(tmp_path / "file")], "is a file"),
                          (["--out", str(tmp_path / "file" / "site")], "cannot write the site there (Not a directory)"),
                          (["--target", "nope"], "nope")):
        code, out, err = run_cli("docs", *args, cwd=root)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    for config, message in (('columns={"z": "no such column"}', "'z' is not an output column of a"),
                            ('columns={"x": 1}', "config columns"), ('colums={"x": "typo"}', "did you mean 'columns'")):
        (root / "features" / "a.sql").write_text(f"{{{{ config({config}) }}}}\nselect 1 as x, 2 as y\n")
        code, out, err = run_cli("docs", "--out", str(tmp_path / "site"), cwd=root)
        assert code == 2 and message in err and "features/a.sql:1" in err, (config, err)


def test_docs_blocks_describe_steps_and_columns(make_project, run_cli, tmp_path):
    root = make_project({
        "features/docs/orders.md": """
            # Orders

            {% docs orders_doc %}
            One row per **order**: its id and its amount.
            {% enddocs %}

            {% docs amount_doc %}Order total in cents.{% enddocs %}
        """,
        "features/orders.sql": """
            {{ config(description=doc("orders_doc"), columns={"amount": doc("amount_doc")}) }}
            select 1 as id, 250 as amount, {{ doc("amount_doc") }} as note, r.region from {{ source("crm", "regions") }} as r
        """,
        "warehouse/sources.toml": """
            [crm.tables.regions]
            description = "Sales regions."
            descriptions = { region = "ISO region code" }
            meta = { owner = "sales-ops" }
        """,
    }, source_rows={"crm.regions": "select 'eu' as region"})
    assert run_cli("run", cwd=root)[0] == 0
    import duckdb

    from _projects import database_path

    with duckdb.connect(str(database_path(root)), read_only=True) as connection:  # in SQL, the text is a literal
        assert connection.execute("select note from features.orders").fetchall() == [("Order total in cents.",)]
    code, out, err = run_cli("docs", "--out", str(tmp_path / "site"), cwd=root)
    assert code == 0, out + err
    page = site_data(tmp_path / "site")["relations"]["features.orders"]
    assert page["description"] == "One row per **order**: its id and its amount."
    assert {c["name"]: c["description"] for c in page["columns"]}["amount"] == "Order total in cents."
    regions = site_data(tmp_path / "site")["relations"]["crm.regions"]
    assert (regions["description"], regions["meta"]) == ("Sales regions.", {"owner": "sales-ops"})
    assert {c["name"]: c["description"] for c in regions["columns"]} == {"region": "ISO region code"}
    for docs, step, message in (
        ("{% docs a %}x{% enddocs %}", '{{ doc("b") }}', "features/orders.sql:1: doc('b'): no docs block is named 'b'"),
        ("{% docs a %}x{% enddocs %}\n{% docs a %}y{% enddocs %}", "1", "features/docs/orders.md:2: docs block 'a' is defined twice"),
        ("{% docs a %}x", "1", "features/docs/orders.md:1: docs block 'a' has no {% enddocs %}"),
        ("{% docs 1a %}x{% enddocs %}", "1", "features/docs/orders.md:1: malformed docs block"),
    ):
        (root / "features" / "docs" / "orders.md").write_text(docs)
        (root / "features" / "orders.sql").write_text(f"select {step} as x\n")
        (root / "warehouse" / "sources.toml").unlink(missing_ok=True)
        code, out, err = run_cli("compile", cwd=root)
        assert code == 2 and message in err and "Traceback" not in err, (docs, err)


def test_a_model_description_is_declared_or_its_docstring():
    from toolkit.docs.collect import _model_description
    from toolkit.models import model

    @model(training="t", label="y", key="id", description="Churn in 90 days.", meta={"owner": "ana"})
    def churn():
        """Not this."""

    spec = churn.__toolkit_model__
    assert (_model_description(spec), spec.meta) == ("Churn in 90 days.", {"owner": "ana"})


PG_MODEL = '''
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="points", label="label", key=["id"], split="random", metrics=["roc_auc"])
def tiny():
    """A tiny classifier."""
    return LogisticRegression()
'''


def test_a_site_from_a_postgres_target_alone(tmp_path, pg_url, run_cli):  # noqa: F811 (the fixture)
    """The project runs on PostgreSQL; the site is built from that state (no local DuckDB file exists)."""
    pg_query(pg_url, "create schema raw")
    pg_query(pg_url, "create table raw.points as select g::bigint as id, (g % 7)::float as x, "
                     "(case when g % 7 > 3 then 1 else 0 end)::int as label from generate_series(1, 200) g")
    root = tmp_path / "project"
    files = {
        "toolkit.toml": f'name = "pg"\ndialect = "duckdb"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n',
        "warehouse/sources.toml": '[raw]\n[raw.tables.points]\ncolumns = { id = "bigint", x = "double", label = "integer" }\n',
        "features/points.sql": '{{ config(description="Training points.") }}\nselect id, x, label from {{ source("raw", "points") }}\n',
        "models/tiny.py": PG_MODEL,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    code, out, err = run_cli("docs", "--out", str(tmp_path / "site"), cwd=root)
    assert code == 0, out + err
    assert not list(root.rglob("*.duckdb"))
    data = site_data(tmp_path / "site")
    assert data["engine"] == "postgres" and data["runs"][0]["status"] == "success"
    tiny = data["models"]["tiny"]
    assert tiny["production"] == 1 and tiny["description"] == "A tiny classifier."
    assert tiny["versions"][0]["evaluation"]["split"]["test_rows"] == 40 and "roc" in tiny["versions"][0]["plots"]
    assert data["relations"]["features.points"]["tests"] == [] and data["relations"]["features.points"]["runs"]
    assert data["relations"]["predictions.tiny"]["columns"][0]["name"] == "id"


# -- in a real browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver; .ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_demo_site_in_chromium(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from toolkit.compiler import compile_project

    index = (demo / "site" / "index.html").as_uri()
    browser.get(index)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dag svg g.node"))
    steps = compile_project(demo).steps
    kinds = [g.get_attribute("data-kind") for g in browser.find_elements(By.CSS_SELECTOR, "#dag svg g.node")]
    assert len([k for k in kinds if k != "source"]) == len(steps) and kinds.count("source") == 5
    print(f"DAG of {len(kinds)} nodes rendered in {browser.execute_script('return window.TOOLKIT_DAG_RENDER_MS'):.1f} ms")

    browser.get(index + "#/relation/features.churn_training")
    button = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'button.column-link[data-column="features.churn_training.tenure_days"]'))
    button.click()
    shown = {li.get_attribute("data-column") for li in browser.find_elements(By.CSS_SELECTOR, "#lineage li.upstream-column")}
    assert shown == {"features.customer_features.tenure_days", "features.customer_snapshots.tenure_days",
                     "shop.customers.signed_up_at", "features.snapshot_dates.snapshot_date"}

    browser.get(index + "#/model/churn")
    roc = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".model-card svg.roc-curve"))
    assert roc.is_displayed() and roc.find_elements(By.CSS_SELECTOR, "polyline.series")
    assert browser.find_element(By.ID, "production-version").text == "1"
    screenshot = tmp_path / "churn_model_card.png"
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
