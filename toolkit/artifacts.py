"""What a model artifact may contain: the allow-list of types and a reader of the
types a skops file names, without loading it.

skops' own `trusted=` only adds to its defaults (which trust every scikit-learn
estimator), so toolkit reads the artifact's schema itself and refuses anything
outside ALLOWED_TYPES; skops' check then runs as a second line of defence.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from toolkit.errors import StepFailed

# Derived by dumping fitted examples of each supported estimator (numpy and pandas
# input, string/int/bool labels, binary and multiclass, every loss, early stopping,
# categorical features, passthrough remainders) and listing the types in their
# skops schema; extend it the same way, one reviewed name at a time.
ALLOWED_TYPES: frozenset[str] = frozenset({
    # Python containers and values
    "builtins.bool", "builtins.dict", "builtins.float", "builtins.int", "builtins.list",
    "builtins.set", "builtins.slice", "builtins.str", "builtins.tuple",
    "builtins.object",  # make_column_selector(dtype_include=object)
    "functools.partial",  # HistGradientBoosting's categorical preprocessor
    # numpy arrays, dtypes, scalars and random state
    "numpy.ndarray", "numpy.dtype",
    "numpy.bool", "numpy.int8", "numpy.int16", "numpy.int32", "numpy.int64",
    "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64",
    "numpy.float16", "numpy.float32", "numpy.float64", "numpy.str_", "numpy.object_",
    "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator",
    "numpy.random.MT19937", "numpy.random.PCG64", "numpy.random.PCG64DXSM",
    "numpy.random.Philox", "numpy.random.SFC64",
    # scipy: coefficients after LogisticRegression.sparsify()
    "scipy.sparse._csr.csr_matrix",
    # composition and preprocessing
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer.make_column_selector",
    # remainder="passthrough" and HistGradientBoosting's preprocessor; the function a
    # FunctionTransformer wraps is a type of its own and must be listed too.
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.utils.validation.check_array",
    "sklearn.impute._base.SimpleImputer", "sklearn.impute._base.MissingIndicator",
    "sklearn.preprocessing._data.StandardScaler", "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.RobustScaler", "sklearn.preprocessing._data.MaxAbsScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder", "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    # linear models
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._coordinate_descent.Lasso", "sklearn.linear_model._coordinate_descent.ElasticNet",
    # their cross-validated forms: fitted, the same coef_ and intercept_ (scored by the same SQL)
    # beside arrays of the search (Cs_, alphas_, scores_, mse_path_, ...)
    "sklearn.linear_model._logistic.LogisticRegressionCV", "sklearn.linear_model._ridge.RidgeCV",
    "sklearn.linear_model._coordinate_descent.LassoCV", "sklearn.linear_model._coordinate_descent.ElasticNetCV",
    # trees and forests
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier", "sklearn.ensemble._forest.ExtraTreesRegressor",
    # gradient boosting (DummyClassifier/Regressor are its default init_)
    "sklearn.ensemble._gb.GradientBoostingClassifier", "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # losses and links of the boosting models
    "sklearn._loss.loss.AbsoluteError", "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HuberLoss", "sklearn._loss.loss.PinballLoss",
    "sklearn._loss._loss.CyAbsoluteError", "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss", "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss._loss.CyHuberLoss", "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss.link.IdentityLink", "sklearn._loss.link.LogLink", "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.HalfLogitLink", "sklearn._loss.link.MultinomialLogit", "sklearn._loss.link.Interval",
})


def artifact_types(data: bytes, where: str = "artifact") -> set[str]:
    """Every type a skops file would import or call, read from its schema without loading it.

    Besides each node's module.class this names the method of a bound method and
    the bit generator of a numpy Generator, which skops resolves by name too.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise StepFailed(
            f"{where}: not a skops artifact (toolkit stores models with skops only; pickle and joblib are never loaded)"
        ) from None
    found: set[str] = set()
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        pending.extend(node.values())
        loader = node.get("__loader__")
        if loader is None or loader == "JsonNode":  # JSON values are parsed, never imported
            continue
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        found.add(name)
        if loader == "MethodNode":
            found.add(f"{name}.{(node.get('content') or {}).get('func')}")
        elif loader == "RandomGeneratorNode":
            found.add(f"numpy.random.{_bit_generator(node)}")
    return found


def untrusted_types(data: bytes, where: str = "artifact", allowed: frozenset[str] = ALLOWED_TYPES) -> list[str]:
    """The types in a skops file that `allowed` does not list, sorted."""
    return sorted(artifact_types(data, where) - allowed)


def _bit_generator(node: dict) -> str:
    try:
        return json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return "<unreadable bit generator>"


# -- values ------------------------------------------------------------------------------
