"""Generate the demo e-commerce warehouse: a deterministic, synthetic online shop.

    python warehouse/generate.py                      # small: ~2,000 customers
    python warehouse/generate.py --scale medium       # ~20,000 customers
    python warehouse/generate.py --scale 50000 --path /tmp/shop.duckdb
    python warehouse/generate.py --shift web_sessions.duration_seconds=3   # drift one column

Five tables land in schema `shop` (see warehouse/sources.toml):

customers      one row per customer: signup time, country, acquisition channel
products       ~120 products in 8 categories with list prices
orders         one row per order: status completed / returned / cancelled,
               returned_at set when (and only once) a return has happened
order_items    order lines: product, quantity, unit price paid
web_sessions   site/app visits, some anonymous (customer_id NULL)

The shop runs from 2024-01-01 to 2025-12-31. Customers sign up over that period
at a growing rate, order as a seasonal Poisson process at their own rate (heavy
tailed: a few customers order weekly, many a couple of times a year), slow down
in the weeks before they churn, and then stop ordering (a quarter never churn).
Churn comes sooner for customers acquired through paid social and for customers
who return a lot, so churn is predictable but far from trivial.

Everything is a pure function of (customers, seed): the same arguments give
byte-identical tables on every run and every day (numpy's PCG64 stream; dates are
fixed, nothing reads the clock).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "shop"
SCALES = {"small": 2_000, "medium": 20_000, "large": 200_000}

START = np.datetime64("2024-01-01T00:00:00", "s")
END = np.datetime64("2026-01-01T00:00:00", "s")  # exclusive: data ends 2025-12-31 23:59:59
DAYS = int((END - START) / np.timedelta64(1, "D"))  # 731
SIGNUP_DAYS = DAYS - 31  # nobody signs up in the final month
DECLINE_DAYS = 45.0  # customers order less in the weeks before they churn
DECLINE_FACTOR = 0.35

COUNTRIES = ["US", "GB", "DE", "FR", "CA", "ES", "IT", "NL", "AU", "SE", "PL", "IE"]
COUNTRY_P = [0.30, 0.13, 0.12, 0.08, 0.07, 0.06, 0.06, 0.05, 0.05, 0.03, 0.03, 0.02]

ACQUISITION = ["organic_search", "paid_search", "paid_social", "referral", "email", "affiliate", "direct"]
ACQUISITION_P = [0.28, 0.17, 0.18, 0.10, 0.08, 0.07, 0.12]
# multipliers on (order rate, expected lifetime) per acquisition channel
ACQUISITION_RATE = [1.00, 0.95, 0.80, 1.20, 1.10, 0.85, 1.05]
ACQUISITION_LIFE = [1.00, 0.90, 0.55, 1.50, 1.20, 0.75, 1.10]

# category: (number of products, median list price, share of demand, units per line boost)
CATEGORIES = {
    "grocery": (24, 6.0, 0.24, 0.9),
    "household": (15, 9.0, 0.15, 0.6),
    "beauty": (15, 18.0, 0.12, 0.2),
    "apparel": (18, 38.0, 0.14, 0.1),
    "electronics": (12, 110.0, 0.07, 0.0),
    "home_garden": (14, 45.0, 0.10, 0.1),
    "toys_games": (10, 26.0, 0.08, 0.1),
    "books_media": (12, 15.0, 0.10, 0.2),
}
PRODUCT_NOUNS = {
    "grocery": ["Coffee Beans", "Olive Oil", "Pasta", "Green Tea", "Granola", "Dark Chocolate", "Basmati Rice", "Peanut Butter"],
    "household": ["Dish Soap", "Laundry Pods", "Paper Towels", "Trash Bags", "Sponges", "Glass Cleaner"],
    "beauty": ["Face Cream", "Shampoo", "Sunscreen", "Lip Balm", "Body Lotion", "Hand Soap"],
    "apparel": ["T-Shirt", "Hoodie", "Running Socks", "Rain Jacket", "Chinos", "Wool Beanie"],
    "electronics": ["Earbuds", "Phone Charger", "Smart Plug", "Bluetooth Speaker", "USB-C Hub", "Fitness Tracker"],
    "home_garden": ["Throw Blanket", "Plant Pot", "Desk Lamp", "Garden Hose", "Scented Candle", "Cutting Board"],
    "toys_games": ["Puzzle", "Board Game", "Building Blocks", "Card Game", "Plush Toy"],
    "books_media": ["Cookbook", "Novel", "Travel Guide", "Notebook", "Vinyl Record", "Comic"],
}
PRODUCT_ADJECTIVES = ["Classic", "Organic", "Premium", "Everyday", "Eco", "Deluxe", "Mini", "Family"]

ORDER_CHANNELS = ["web", "app", "marketplace"]
DEVICES = ["desktop", "mobile", "tablet"]


def generate(customers: int, seed: int = 7) -> dict[str, pa.Table]:
    """The five shop tables for `customers` customers; deterministic in (customers, seed)."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = np.random.Generator(np.random.PCG64(seed))
    weights, cumulative = _daily_intensity()

    people = _customers(rng, customers)
    products = _products(rng)
    orders = _orders(rng, people, weights, cumulative)
    items = _order_items(rng, people, products, orders)
    _finish_orders(rng, people, orders, items)
    sessions = _sessions(rng, people, weights, cumulative)

    return {
        "customers": _customers_table(people),
        "products": _products_table(products),
        "orders": _orders_table(orders),
        "order_items": _order_items_table(items),
        "web_sessions": _sessions_table(sessions),
    }


# -- time ---------------------------------------------------------------------------------


def _daily_intensity() -> tuple[np.ndarray, np.ndarray]:
    """Relative shopping intensity per day (mean 1) and its running sum (len DAYS + 1).

    Weekends are busier, January and summer are quiet, late November (Black Friday)
    and December peak.
    """
    days = START.astype("datetime64[D]") + np.arange(DAYS)
    weekday = (days.astype("int64") + 3) % 7  # 0 = Monday
    day_of_year = _day_of_year()
    weekly = np.array([0.95, 0.92, 0.94, 0.97, 1.02, 1.12, 1.08])[weekday]
    seasonal = 1.0 + 0.10 * np.cos(2 * np.pi * (day_of_year - 350) / 365.0)
    seasonal -= 0.08 * np.exp(-(((day_of_year - 200) / 25.0) ** 2))  # summer lull
    seasonal += 0.55 * np.exp(-(((day_of_year - 332) / 6.0) ** 2))  # Black Friday week
    seasonal += 0.25 * np.exp(-(((day_of_year - 350) / 8.0) ** 2))  # December gifting
    weights = weekly * seasonal
    weights /= weights.mean()
    return weights, np.concatenate([[0.0], np.cumsum(weights)])


def _poisson_events(rng, start, stop, rate_per_day, weights, cumulative):
    """Event times (fractional days since START) of seasonal Poisson processes.

    One process per interval [start, stop) with its own rate; returns
    (index of the interval each event belongs to, event time), grouped by interval.
    """
    start = np.clip(start, 0.0, DAYS)
    stop = np.clip(stop, 0.0, DAYS)
    valid = stop > start
    lo = _cumulative_at(np.where(valid, start, 0.0), weights, cumulative)
    hi = _cumulative_at(np.where(valid, stop, 0.0), weights, cumulative)
    counts = rng.poisson(np.where(valid, rate_per_day * (hi - lo), 0.0))
    owner = np.repeat(np.arange(len(start)), counts)
    target = lo[owner] + rng.random(len(owner)) * (hi - lo)[owner]
    day = np.clip(np.searchsorted(cumulative, target, side="right") - 1, 0, DAYS - 1)
    return owner, day + (target - cumulative[day]) / weights[day]


def _cumulative_at(t, weights, cumulative):
    day = np.clip(np.floor(t).astype(np.int64), 0, DAYS - 1)
    return cumulative[day] + weights[day] * (t - day)


def _time_of_day(rng, n: int, evening: float = 0.6) -> np.ndarray:
    """Fraction of a day: a daytime bump plus an evening peak, few events at night."""
    daytime = rng.normal(13.0, 3.0, n)
    night_owl = rng.normal(20.5, 1.6, n)
    hours = np.where(rng.random(n) < evening, night_owl, daytime)
    return np.mod(hours, 24.0) / 24.0


def _chronological(t: np.ndarray, who: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times truncated to whole seconds, and the permutation sorting by (time, who).

    Equal keys are then identical rows, so the sort's tie order cannot matter.
    """
    seconds = np.floor(t * 86_400.0)
    key = seconds.astype(np.int64) * (int(who.max(initial=0)) + 2) + (who + 1)
    return seconds / 86_400.0, np.argsort(key, kind="stable")


def _day_of_year() -> np.ndarray:
    days = START.astype("datetime64[D]") + np.arange(DAYS)
    return (days - days.astype("datetime64[Y]")).astype("int64")


def _timestamps(day_float: np.ndarray) -> np.ndarray:
    """Fractional days since START as datetime64[us], truncated to whole seconds."""
    seconds = np.floor(day_float * 86_400.0).astype(np.int64)
    return (START + seconds.astype("timedelta64[s]")).astype("datetime64[us]")


# -- entities -----------------------------------------------------------------------------


def _customers(rng, n: int) -> dict[str, np.ndarray]:
    # signups grow linearly over time: density proportional to 1 + g * x on [0, 1)
    g = 1.5
    u = np.sort(rng.random(n))
    x = (-1.0 + np.sqrt(1.0 + 2.0 * g * u * (1.0 + g / 2.0))) / g
    signup_day = np.floor(x * SIGNUP_DAYS) + _time_of_day(rng, n, evening=0.5)

    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_P)
    channel = rng.choice(len(ACQUISITION), size=n, p=ACQUISITION_P)
    opt_in = rng.random(n) < np.where(channel == ACQUISITION.index("email"), 0.85, 0.5)

    # orders per 30 active days: heavy tailed, shifted by acquisition channel
    rate = np.exp(rng.normal(0.0, 0.8, n)) * np.take(ACQUISITION_RATE, channel)
    rate *= np.where(opt_in, 1.1, 1.0)
    rate = np.minimum(rate, 12.0)
    return_propensity = rng.beta(1.3, 14.0, n)

    # lifetime until churn; a quarter of customers never churn within the data
    mean_life = 420.0 * np.take(ACQUISITION_LIFE, channel) / (1.0 + 4.0 * return_propensity)
    mean_life *= rate**0.35  # frequent buyers stay longer
    life = rng.exponential(mean_life)
    loyal = rng.random(n) < 0.25
    churn_day = np.where(loyal, np.inf, signup_day + life)

    # most customers place a welcome order within days of signing up
    welcome = rng.random(n) < 0.65
    welcome_delay = rng.exponential(1.5, n)

    mobile_share = rng.beta(2.0, 1.6, n)
    favourite = rng.choice(len(CATEGORIES), size=(n, 2), p=_category_share())
    return {
        "customer_id": np.arange(1, n + 1, dtype=np.int64) + 100_000,
        "signup_day": signup_day,
        "country": country,
        "channel": channel,
        "opt_in": opt_in,
        "rate": rate,
        "return_propensity": return_propensity,
        "churn_day": churn_day,
        "welcome": welcome,
        "welcome_delay": welcome_delay,
        "mobile_share": mobile_share,
        "favourite": favourite,
    }


def _category_share() -> np.ndarray:
    share = np.array([spec[2] for spec in CATEGORIES.values()])
    return share / share.sum()


def _products(rng) -> dict[str, np.ndarray]:
    category, price, popularity, names, skus = [], [], [], [], []
    for c, (name, (count, median, _, _)) in enumerate(CATEGORIES.items()):
        nouns = PRODUCT_NOUNS[name]
        prices = np.round(median * np.exp(rng.normal(0.0, 0.45, count)), 0) - 0.01
        weights = 1.0 / (rng.permutation(count) + 1.0) ** 0.8  # a few best sellers per category
        for k in range(count):
            adjective = PRODUCT_ADJECTIVES[(k // len(nouns) + c) % len(PRODUCT_ADJECTIVES)]
            names.append(f"{adjective} {nouns[k % len(nouns)]}")
            skus.append(f"{name[:3].upper()}-{k + 1:04d}")
        category.append(np.full(count, c))
        price.append(np.maximum(prices, 0.99))
        popularity.append(weights / weights.sum())
    category = np.concatenate(category)
    return {
        "product_id": np.arange(1, len(category) + 1, dtype=np.int64) + 5_000,
        "sku": np.array(skus, dtype=object),
        "name": np.array(names, dtype=object),
        "category": category,
        "list_price": np.concatenate(price),
        "popularity": np.concatenate(popularity),
    }


def _orders(rng, people, weights, cumulative) -> dict[str, np.ndarray]:
    signup, churn, rate = people["signup_day"], people["churn_day"], people["rate"] / 30.0
    decline_start = np.maximum(signup, churn - DECLINE_DAYS)
    steady_owner, steady_t = _poisson_events(rng, signup, np.minimum(decline_start, DAYS), rate, weights, cumulative)
    fading_owner, fading_t = _poisson_events(
        rng, decline_start, np.minimum(churn, DAYS), rate * DECLINE_FACTOR, weights, cumulative
    )
    welcome_t = signup + people["welcome_delay"]
    welcome = people["welcome"] & (welcome_t < np.minimum(churn, DAYS))
    owner = np.concatenate([steady_owner, fading_owner, np.flatnonzero(welcome)])
    day = np.floor(np.concatenate([steady_t, fading_t, welcome_t[welcome]]))
    t = day + _time_of_day(rng, len(day))
    t = np.where(t < signup[owner], signup[owner] + 0.02, t)  # never before signing up
    keep = t < DAYS
    t, order = _chronological(t[keep], owner[keep])
    owner, t = owner[keep][order], t[order]
    n = len(owner)
    app = rng.random(n) < people["mobile_share"][owner] * 0.7
    marketplace = rng.random(n) < 0.08
    return {
        "order_id": np.arange(1, n + 1, dtype=np.int64) + 1_000_000,
        "owner": owner,
        "t": t,
        "channel": np.where(marketplace, 2, np.where(app, 1, 0)),
    }


def _order_items(rng, people, products, orders) -> dict[str, np.ndarray]:
    n_orders = len(orders["order_id"])
    lines = np.minimum(1 + rng.poisson(1.2, n_orders), 9)
    order_index = np.repeat(np.arange(n_orders), lines)
    starts = np.concatenate([[0], np.cumsum(lines)[:-1]]) if n_orders else np.zeros(0, np.int64)
    line_number = np.arange(len(order_index)) - np.repeat(starts, lines) + 1
    owner = orders["owner"][order_index]
    n = len(order_index)

    # category: the customer's favourite, their second favourite, or the shop-wide mix
    u = rng.random(n)
    shop_wide = rng.choice(len(CATEGORIES), size=n, p=_category_share())
    favourite = people["favourite"][owner]
    category = np.where(u < 0.35, favourite[:, 0], np.where(u < 0.55, favourite[:, 1], shop_wide))

    product = np.zeros(n, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        in_category = np.flatnonzero(category == c)
        candidates = np.flatnonzero(products["category"] == c)
        product[in_category] = rng.choice(candidates, size=len(in_category), p=products["popularity"][candidates])

    boost = np.array([spec[3] for spec in CATEGORIES.values()])[category]
    quantity = 1 + rng.poisson(boost)

    t = orders["t"][order_index]
    inflation = 1.0 + 0.03 * t / 365.0
    day_of_year = _day_of_year()[np.floor(t).astype(np.int64)]
    black_friday = (day_of_year >= 326) & (day_of_year <= 334)
    promo = rng.random(n) < np.where(black_friday, 0.45, 0.12)
    discount = np.where(promo, np.where(black_friday, 0.75, 0.85), 1.0)
    unit_price = np.round(products["list_price"][product] * inflation * discount, 2)
    return {
        "order_index": order_index,
        "line_number": line_number.astype(np.int32),
        "product": product,
        "quantity": quantity.astype(np.int32),
        "unit_price": unit_price,
    }


def _finish_orders(rng, people, orders, items) -> None:
    """Status, return time and shipping fee, which depend on the order's lines."""
    n = len(orders["order_id"])
    owner = orders["owner"]
    value = np.bincount(items["order_index"], weights=items["quantity"] * items["unit_price"], minlength=n)
    cancelled = rng.random(n) < 0.035
    returned = ~cancelled & (rng.random(n) < people["return_propensity"][owner] * np.where(value > 80, 1.4, 0.9))
    returned_t = orders["t"] + 2.0 + rng.gamma(2.0, 3.5, n)
    returned &= returned_t < DAYS  # a return after the data ends has not happened yet
    orders["status"] = np.where(cancelled, 2, np.where(returned, 1, 0))
    orders["returned_t"] = returned_t
    orders["returned"] = returned
    orders["shipping_fee"] = np.where(value >= 50.0, 0.0, np.where(orders["channel"] == 2, 3.49, 4.99))


def _sessions(rng, people, weights, cumulative) -> dict[str, np.ndarray]:
    signup, churn = people["signup_day"], people["churn_day"]
    rate = (people["rate"] * 2.0 + 0.6) / 30.0
    decline_start = np.maximum(signup, churn - DECLINE_DAYS)
    parts = [
        _poisson_events(rng, signup, np.minimum(decline_start, DAYS), rate, weights, cumulative),
        _poisson_events(rng, decline_start, np.minimum(churn, DAYS), rate * 0.5, weights, cumulative),
        _poisson_events(rng, np.minimum(churn, DAYS), np.full(len(signup), float(DAYS)), rate * 0.08, weights, cumulative),
    ]
    owner = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    # visitors who never log in: about one session in six
    anonymous = int(round(len(owner) * 0.18))
    anon_owner, anon_t = _poisson_events(
        rng, np.zeros(1), np.full(1, float(DAYS)), np.array([anonymous / DAYS]), weights, cumulative
    )
    customer = np.concatenate([owner, np.full(len(anon_owner), -1)])
    t = np.concatenate([t, anon_t])
    t = np.floor(t) + _time_of_day(rng, len(t), evening=0.55)
    known = customer >= 0
    t = np.where(known & (t < signup[np.maximum(customer, 0)]), signup[np.maximum(customer, 0)], t)
    t, order = _chronological(t, customer)
    customer, t, known = customer[order], t[order], known[order]
    n = len(customer)

    mobile = np.where(known, people["mobile_share"][np.maximum(customer, 0)], 0.55)
    u = rng.random(n)
    device = np.where(u < 0.07, 2, np.where(u < 0.07 + 0.93 * mobile, 1, 0))
    duration = np.exp(rng.normal(np.log(170.0), 0.95, n)) * np.where(device == 0, 1.3, 1.0)
    duration = np.minimum(np.round(duration), 4 * 3600).astype(np.int32) + 5
    pages = (1 + rng.poisson(duration / 75.0)).astype(np.int32)
    return {
        "session_id": np.arange(1, n + 1, dtype=np.int64) + 50_000_000,
        "customer": customer,
        "known": known,
        "t": t,
        "duration": duration,
        "pages": pages,
        "device": device,
    }


# -- Arrow --------------------------------------------------------------------------------


def _labels(labels: list[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(labels, pa.string()), pa.array(index, pa.int32()))


def _customers_table(p) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(p["customer_id"], pa.int64()),
            "signed_up_at": pa.array(_timestamps(p["signup_day"])),
            "country": _labels(COUNTRIES, p["country"]),
            "acquisition_channel": _labels(ACQUISITION, p["channel"]),
            "marketing_opt_in": pa.array(p["opt_in"], pa.bool_()),
        }
    )


def _products_table(p) -> pa.Table:
    return pa.table(
        {
            "product_id": pa.array(p["product_id"], pa.int64()),
            "sku": pa.array(p["sku"].tolist(), pa.string()),
            "product_name": pa.array(p["name"].tolist(), pa.string()),
            "category": _labels(list(CATEGORIES), p["category"]),
            "list_price": pa.array(p["list_price"], pa.float64()),
        }
    )


def _orders_table(o) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(o["order_id"], pa.int64()),
            "customer_id": pa.array(o["owner"] + 100_001, pa.int64()),
            "ordered_at": pa.array(_timestamps(o["t"])),
            "status": _labels(["completed", "returned", "cancelled"], o["status"]),
            "channel": _labels(ORDER_CHANNELS, o["channel"]),
            "shipping_fee": pa.array(o["shipping_fee"], pa.float64()),
            "returned_at": pa.array(_timestamps(o["returned_t"]), mask=~o["returned"]),
        }
    )


def _order_items_table(i) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(i["order_index"] + 1_000_001, pa.int64()),
            "line_number": pa.array(i["line_number"], pa.int32()),
            "product_id": pa.array(i["product"] + 5_001, pa.int64()),
            "quantity": pa.array(i["quantity"], pa.int32()),
            "unit_price": pa.array(i["unit_price"], pa.float64()),
        }
    )


def _sessions_table(s) -> pa.Table:
    return pa.table(
        {
            "session_id": pa.array(s["session_id"], pa.int64()),
            "customer_id": pa.array(s["customer"] + 100_001, pa.int64(), mask=~s["known"]),
            "started_at": pa.array(_timestamps(s["t"])),
            "duration_seconds": pa.array(s["duration"], pa.int32()),
            "pages_viewed": pa.array(s["pages"], pa.int32()),
            "device": _labels(DEVICES, s["device"]),
        }
    )


# -- writing ------------------------------------------------------------------------------


def write_duckdb(tables: dict[str, pa.Table], path: str | Path) -> None:
    """Replace the tables in schema `shop` of the DuckDB file at `path`, in one transaction.

    Names are qualified with the file's catalog: DuckDB names a catalog after its
    file, so in shop.duckdb a bare `shop.orders` would be ambiguous.
    """
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        catalog = _quote(con.execute("SELECT current_database()").fetchone()[0])
        con.begin()
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{_quote(SCHEMA)}")
        for name, table in tables.items():
            con.register("arrow_table", table)
            con.execute(f"CREATE OR REPLACE TABLE {catalog}.{_quote(SCHEMA)}.{_quote(name)} AS SELECT * FROM arrow_table")
            con.unregister("arrow_table")
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:
            pass  # the transaction never started
        raise
    finally:
        con.close()


def write_postgres(tables: dict[str, pa.Table], url: str) -> None:
    """Replace the tables in schema `shop` of the PostgreSQL database at `url`, in one
    transaction, through ADBC's binary COPY (pip install 'toolkit[postgres]')."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as con, con.cursor() as cur:  # not autocommit: commit() below publishes all
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(SCHEMA)}")
        for name, table in tables.items():
            cur.execute(f"DROP TABLE IF EXISTS {_quote(SCHEMA)}.{_quote(name)}")
            cur.adbc_ingest(name, table, mode="create", db_schema_name=SCHEMA)
        con.commit()


def write_spark(tables: dict[str, pa.Table], warehouse: str) -> None:
    """Replace the tables in schema `shop` of the embedded Spark warehouse at `warehouse`
    (relative to the repository root), through toolkit's own Spark adapter (Arrow in)."""
    from sqlglot import exp

    from toolkit.config import Target
    from toolkit.engines import connect

    engine = connect(Target("spark", "spark", {"warehouse": warehouse}), ROOT)
    try:
        engine.create_schema(SCHEMA)
        for name, table in tables.items():
            relation = exp.table_(name, db=SCHEMA)
            engine.drop(relation)
            engine.create_table_from_arrow(relation, table)
    finally:
        engine.close()


def shift(tables: dict[str, pa.Table], spec: str) -> None:
    """Multiply one numeric column in place, `TABLE.COLUMN=FACTOR`: the same shop with
    one input drifted (e.g. for monitoring; the column keeps its type)."""
    target, _, factor = spec.partition("=")
    name, _, column = target.partition(".")
    if name not in tables or column not in tables[name].column_names:
        raise ValueError(f"--shift {spec}: no column {target} (tables: {', '.join(tables)})")
    try:
        multiplier = float(factor)
    except ValueError:
        raise ValueError(f"--shift {spec}: the factor must be a number") from None
    table = tables[name]
    values = table.column(column)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise ValueError(f"--shift {spec}: {target} is {values.type}, not a number")
    scaled = pc.multiply(values.cast(pa.float64()), multiplier)
    if pa.types.is_integer(values.type):
        scaled = pc.round(scaled)
    index = table.column_names.index(column)
    tables[name] = table.set_column(index, table.field(index), scaled.cast(values.type))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def default_path() -> str:
    """The dev target's DuckDB file from pyproject.toml, else warehouse/shop.duckdb."""
    import tomllib

    try:
        config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["toolkit"]
        target = config["targets"][config.get("target", "dev")]
        if target.get("engine") == "duckdb" and target.get("path"):
            return str(target["path"])
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        pass
    return "warehouse/shop.duckdb"


def _masked(url: str) -> str:
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url


def _scale(text: str) -> int:
    if text in SCALES:
        return SCALES[text]
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be small, medium, large or a number of customers, not {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError("the number of customers must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the demo e-commerce warehouse into a DuckDB file.")
    parser.add_argument("--scale", type=_scale, default="small", help="small (2k customers), medium (20k), large (200k) or a number")
    parser.add_argument(
        "--path",
        default=None,
        help="DuckDB file, relative to the repository root (default: the dev target's path in pyproject.toml)",
    )
    parser.add_argument("--url", default=None, help="write into this PostgreSQL database instead, e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--spark", default=None, metavar="WAREHOUSE", help="write into this embedded Spark warehouse instead, e.g. warehouse/spark")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--shift", action="append", default=[], metavar="TABLE.COLUMN=FACTOR",
                        help="multiply a numeric column, e.g. web_sessions.duration_seconds=3 (drift for monitoring)")
    args = parser.parse_args(argv)
    path = Path(args.path or default_path())
    if not path.is_absolute():
        path = ROOT / path
    began = time.perf_counter()
    tables = generate(args.scale, seed=args.seed)
    try:
        for spec in args.shift:
            shift(tables, spec)
    except ValueError as error:
        print(f"generate.py: {error}", file=sys.stderr)
        return 2
    try:
        if args.url:
            write_postgres(tables, args.url)
        elif args.spark:
            write_spark(tables, args.spark)
        else:
            write_duckdb(tables, path)
    except Exception as error:  # e.g. another process holds the file lock
        print(f"generate.py: cannot write {_masked(args.url) if args.url else args.spark or path}: {error}", file=sys.stderr)
        return 1
    counts = " ".join(f"{name}={table.num_rows:,}" for name, table in tables.items())
    shown = _masked(args.url) if args.url else f"spark {args.spark}" if args.spark else path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"{SCHEMA}: {counts} -> {shown} ({time.perf_counter() - began:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
