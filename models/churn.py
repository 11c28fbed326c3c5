"""Churn: will a customer who ordered in the last 90 days place no completed order
in the next 30 days? Trained on monthly snapshots (labels look only after each
snapshot date), tested on the latest months, scored for the latest snapshot."""

from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from toolkit import model

CATEGORICAL = ["country", "region", "acquisition_channel"]


def encoded(numeric_steps):
    """One-hot the categories (unseen ones ignored); numeric_steps for the rest."""
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        remainder=make_pipeline(*numeric_steps),
    )


@model(
    training="churn_training",
    label="churned",
    key=["customer_id", "snapshot_date"],
    scoring_table="scoring_population",
    split="time",
    split_column="snapshot_date",
    metrics=["roc_auc", "average_precision", "accuracy"],
    gates={"roc_auc": 0.6},
)
def churn():
    return {
        "logistic_regression": make_pipeline(
            encoded([SimpleImputer(), StandardScaler()]), LogisticRegression(max_iter=500)
        ),
        "gradient_boosting": make_pipeline(
            encoded([SimpleImputer()]), HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=0)
        ),
    }
