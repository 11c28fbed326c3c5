"""The one table of converters (toolkit.modelsql.converters): exact classes only, and
anything else an Unsupported error naming the class and where it sits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from toolkit.modelsql import base, converters, unsupported_reason

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
Y = np.array([0, 1, 0, 1])


class HomeMadeLogistic(LogisticRegression):
    """A subclass may compute something else: not converted as its parent."""


def test_the_table_maps_classes_to_converters():
    for table in (converters.TRANSFORMERS, converters.ESTIMATORS):
        assert table and all(isinstance(cls, type) and callable(function) for cls, function in table.items())
    assert not set(converters.TRANSFORMERS) & set(converters.ESTIMATORS)
    assert not hasattr(base, "ESTIMATORS") and not hasattr(base, "TRANSFORMERS")  # one table, not two registries


def test_an_unlisted_final_estimator_is_named():
    model = make_pipeline(StandardScaler(), HomeMadeLogistic()).fit(X, Y)
    assert unsupported_reason(model) == "step 'homemadelogistic': HomeMadeLogistic is not supported as a final estimator"


def test_an_unlisted_transformer_is_named_with_its_path():
    model = make_pipeline(Normalizer(), LogisticRegression()).fit(X, Y)
    assert unsupported_reason(model) == "step 'normalizer': Normalizer is not supported"


def test_lookups_raise_unsupported():
    with pytest.raises(base.Unsupported, match="Normalizer is not supported"):
        converters.transformer_for(Normalizer(), "here")
    assert converters.estimator_for(LogisticRegression(), "here") is converters.ESTIMATORS[LogisticRegression]
