"""The one table of what the compiler converts: fitted scikit-learn class -> converter.

Exact classes only (a subclass may change what `transform` or `predict` computes).
Pipeline and ColumnTransformer are structure, walked by toolkit.modelsql itself; a
class missing here is Unsupported, naming it. A new converter is a function in
preprocessing.py, linear.py or trees.py plus its line here.
"""

from __future__ import annotations

from typing import Any

from sklearn import ensemble, impute, linear_model, tree
from sklearn import preprocessing as skp

from toolkit.modelsql import linear, preprocessing, trees
from toolkit.modelsql.base import Estimator, Transformer, Unsupported

TRANSFORMERS: dict[type, Transformer] = {
    impute.SimpleImputer: preprocessing.simple_imputer,
    impute.MissingIndicator: preprocessing.missing_indicator,
    skp.StandardScaler: preprocessing.standard_scaler,
    skp.RobustScaler: preprocessing.robust_scaler,
    skp.MinMaxScaler: preprocessing.min_max_scaler,
    skp.MaxAbsScaler: preprocessing.max_abs_scaler,
    skp.OneHotEncoder: preprocessing.one_hot_encoder,
    skp.OrdinalEncoder: preprocessing.ordinal_encoder,
}

ESTIMATORS: dict[type, Estimator] = {
    linear_model.LinearRegression: linear.linear_regressor,
    linear_model.Ridge: linear.linear_regressor,
    linear_model.RidgeCV: linear.linear_regressor,
    linear_model.Lasso: linear.linear_regressor,
    linear_model.LassoCV: linear.linear_regressor,
    linear_model.ElasticNet: linear.linear_regressor,
    linear_model.ElasticNetCV: linear.linear_regressor,
    linear_model.LogisticRegression: linear.logistic_regression,
    linear_model.LogisticRegressionCV: linear.logistic_regression,
    tree.DecisionTreeClassifier: trees._tree_classifier,
    tree.ExtraTreeClassifier: trees._tree_classifier,
    ensemble.RandomForestClassifier: trees._tree_classifier,
    ensemble.ExtraTreesClassifier: trees._tree_classifier,
    tree.DecisionTreeRegressor: trees._tree_regressor,
    tree.ExtraTreeRegressor: trees._tree_regressor,
    ensemble.RandomForestRegressor: trees._tree_regressor,
    ensemble.ExtraTreesRegressor: trees._tree_regressor,
    ensemble.GradientBoostingClassifier: trees._gradient_boosting,
    ensemble.GradientBoostingRegressor: trees._gradient_boosting,
    ensemble.HistGradientBoostingClassifier: trees._hist_gradient_boosting,
    ensemble.HistGradientBoostingRegressor: trees._hist_gradient_boosting,
}


def transformer_for(step: Any, path: str) -> Transformer:
    """The converter of a transforming step; Unsupported naming its class if none."""
    converter = TRANSFORMERS.get(type(step))
    if converter is None:
        raise Unsupported(path, f"{type(step).__name__} is not supported")
    return converter


def estimator_for(model: Any, path: str) -> Estimator:
    """The converter of a final estimator; Unsupported naming its class if none."""
    converter = ESTIMATORS.get(type(model))
    if converter is None:
        raise Unsupported(path, f"{type(model).__name__} is not supported as a final estimator")
    return converter


# What scikit-learn's input validation lets through (toolkit.modelsql._refuse_invalid):
# these cast X to float32 before comparing, so a value past float32's range raises;
_FLOAT32_ENSEMBLES = (ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier, ensemble.RandomForestRegressor,
                    ensemble.ExtraTreesRegressor, ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor)
FLOAT32_INPUT: frozenset[type] = frozenset({tree.DecisionTreeClassifier, tree.ExtraTreeClassifier, tree.DecisionTreeRegressor,
                                            tree.ExtraTreeRegressor, *_FLOAT32_ENSEMBLES})
# these take float64 X with infinities (every other converted step raises on them).
ACCEPTS_INFINITY: frozenset[type] = frozenset({ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor})
