"""Next-30-day spend: how much will a customer with at least one earlier order
spend in the 30 days after the snapshot? Same features as churn."""

from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from toolkit import model

CATEGORICAL = ["country", "region", "acquisition_channel"]


def encoded(numeric_steps):
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        remainder=make_pipeline(*numeric_steps),
    )


@model(
    training="spend_training",
    label="next_30d_spend",
    key=["customer_id", "snapshot_date"],
    scoring_table="scoring_population",
    split="time",
    split_column="snapshot_date",
    metrics=["r2", "neg_mean_absolute_error"],
    gates={"r2": 0.05},
)
def spend():
    return {
        "ridge": make_pipeline(encoded([SimpleImputer(), StandardScaler()]), Ridge(alpha=1.0)),
        "gradient_boosting": make_pipeline(
            encoded([SimpleImputer()]), HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, random_state=0)
        ),
    }
