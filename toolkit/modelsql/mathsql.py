"""The float64 arithmetic converters share, as sqlglot expressions that every engine
evaluates without error: exp, expit, softmax, argmax, a value shifted, multiplied
or divided by a constant (the scalers, a linear model's products), and a linear
model's decision value.

Why guards: PostgreSQL raises "value out of range: overflow" when a finite
operation's result is infinite and "... underflow" when a non-zero result rounds to
zero (exp(-746), 0.3 * 5e-324, 1e308 + 1e308, 5e-324 / 3), and one such row aborts
the whole scoring query; numpy and DuckDB return inf or 0. Each function here only
takes an arithmetic step whose result PostgreSQL accepts, and otherwise returns what
IEEE float64 gives (inf, 0) from a CASE branch. Operations with an infinite operand
never raise, so infinities flow through as in numpy.

An engine whose float arithmetic is IEEE's without errors (DuckDB: 1e308 * 10 is inf,
exp(-1000) is 0) needs no guard: inside `ieee_engine()` every function here writes the
plain operation, which returns the same value there (half the scoring time of a
scaler + one-hot + logistic pipeline on DuckDB, tests/bench/bench_orbital.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import struct
import sys
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from toolkit.modelsql.base import Context, hoist, literal, number

MAX = sys.float_info.max
INF = math.inf
_GUARDED = contextvars.ContextVar("modelsql_guarded", default=True)


@contextlib.contextmanager
def ieee_engine():
    """Compile for an engine whose float arithmetic never raises (see the module doc)."""
    token = _GUARDED.set(False)
    try:
        yield
    finally:
        _GUARDED.reset(token)


def _largest_finite_exp_argument() -> float:
    """The largest x with exp(x) finite (709.78...)."""
    x = math.log(MAX)
    while True:
        try:
            math.exp(math.nextafter(x, INF))
        except OverflowError:
            break
        x = math.nextafter(x, INF)
    while True:
        try:
            math.exp(x)
            return x
        except OverflowError:
            x = math.nextafter(x, -INF)


EXP_OVERFLOW = _largest_finite_exp_argument()
# Below this, exp(x) is at most the smallest subnormal (exp(-745) is 5e-324 in C's
# libm, exp(-746) underflows to 0): returned as 0 (an error under 5e-324).
EXP_UNDERFLOW = -745.0
# A softmax term below exp(-700) of the largest (1e-304) is returned as 0: dividing
# anything smaller by the sum (up to the class count) could round to 0 and raise.
SOFTMAX_FLOOR = -700.0


def add(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.Add(this=left, expression=right)


def paren(expression: exp.Expression) -> exp.Expression:
    """(expression), without the deep copy exp.paren() makes (a 25-tree sum is large)."""
    return exp.Paren(this=expression)


def _operand(expression: exp.Expression) -> exp.Expression:
    """Parenthesised when it is itself an operation: the generator does not add
    parentheses for precedence ((x - m) / s must not print as x - m / s)."""
    return exp.Paren(this=expression) if isinstance(expression, exp.Binary) else expression


def _case(ifs: list[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=condition, true=value) for condition, value in ifs], default=default)


def safe_exp(value: exp.Expression) -> exp.Expression:
    """numpy's exp: inf past EXP_OVERFLOW, 0 below EXP_UNDERFLOW, NULL stays NULL.

    `value` appears three times: pass a column or a small expression."""
    if not _GUARDED.get():
        return exp.Exp(this=value.copy())
    return _case(
        [(value.copy() > number(EXP_OVERFLOW), number(INF)), (value.copy() < number(EXP_UNDERFLOW), number(0.0))],
        exp.Exp(this=value.copy()),
    )


def expit(value: exp.Expression) -> exp.Expression:
    """scipy.special.expit: 1 / (1 + exp(-x)). Never raises: 1 + inf is inf and 1 / inf
    is 0, and 1 / (1 + MAX) is a subnormal, not 0."""
    return exp.Div(this=number(1.0), expression=paren(add(number(1.0), safe_exp(exp.Neg(this=paren(value))))))


def largest(values: Sequence[exp.Expression], ctx: Context) -> exp.Expression:
    """GREATEST of `values` (computed once), the shift of softmax and the target of argmax.

    ignore_nulls: plain GREATEST in DuckDB (sqlglot otherwise wraps it in NULL checks
    that repeat every argument); the values are NULL together or not at all."""
    greatest = exp.Greatest(this=values[0].copy(), expressions=[v.copy() for v in values[1:]], ignore_nulls=True)
    [top] = hoist(ctx, [greatest], "max")
    return top


def argmax(values: Sequence[exp.Expression], top: exp.Expression, classes: Sequence[Any]) -> exp.Expression:
    """classes[i] for the first values[i] equal to `top` (their largest): numpy's argmax."""
    return _case([(value.copy().eq(top.copy()), literal(label)) for value, label in zip(values, classes)])


def softmax(values: Sequence[exp.Expression], top: exp.Expression, ctx: Context) -> list[exp.Expression]:
    """sklearn.utils.extmath.softmax: exp(v - max v) / the sum of those (left to right,
    as numpy sums a short row), each exp computed once.

    A value more than -SOFTMAX_FLOOR below the largest gets 0 without computing v - max,
    which could overflow (-1e308 - 1e308)."""
    floor = number(SOFTMAX_FLOOR)
    shifted = [
        _case(
            [(value.copy() < exp.Add(this=_operand(top.copy()), expression=floor.copy()), number(0.0))],
            exp.Exp(this=exp.Sub(this=_operand(value.copy()), expression=_operand(top.copy()))),
        )
        for value in values
    ]
    exps = hoist(ctx, shifted, "exp")
    total = exps[0].copy()
    for term in exps[1:]:
        total = add(total, term.copy())
    [total] = hoist(ctx, [total], "sum")
    return [exp.Div(this=_operand(term.copy()), expression=_operand(total.copy())) for term in exps]


# -- a linear model's decision value --------------------------------------------------


def _bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _first_positive(predicate) -> float:
    """The smallest positive double x (up to inf) with predicate(x), for a predicate
    false below some x and true from it on (positive doubles order like their bits)."""
    low, high = 0, _bits(INF)  # predicate(0) assumed false, predicate(inf) true
    while high - low > 1:
        middle = (low + high) // 2
        if predicate(_float(middle)):
            high = middle
        else:
            low = middle
    return _float(high)


def safe_product(value: exp.Expression, weight: float) -> exp.Expression:
    """value * weight (a constant) as IEEE gives it: +-inf where the product overflows,
    0 where it underflows, else the product itself. `value` should be a column (it
    appears up to four times); NULL stays NULL."""
    weight = float(weight)
    product = exp.Mul(this=_operand(value), expression=number(weight))
    if weight == 0 or not math.isfinite(weight) or not _GUARDED.get():
        return product  # no finite product overflows or rounds a non-zero to zero
    size = abs(weight)
    ifs: list[tuple[exp.Expression, exp.Expression]] = []
    overflow = _first_positive(lambda x: math.isinf(x * size))
    if math.isfinite(overflow):
        sign = math.copysign(1.0, weight)
        ifs += [(value.copy() >= number(overflow), number(sign * INF)), (value.copy() <= number(-overflow), number(-sign * INF))]
    underflow = _first_positive(lambda x: x * size != 0.0)
    if underflow > 5e-324:  # else only x = 0 gives 0, which raises nothing
        ifs.append((exp.Abs(this=value.copy()) < number(underflow), number(0.0)))
    return _case(ifs, product) if ifs else product


def safe_quotient(value: exp.Expression, divisor: float) -> exp.Expression:
    """value / divisor (a non-zero constant) as IEEE gives it, like safe_product."""
    divisor = float(divisor)
    quotient = exp.Div(this=_operand(value), expression=number(divisor))
    if divisor == 0 or not math.isfinite(divisor) or not _GUARDED.get():
        return quotient  # x / inf is 0 without an error; a zero scale never reaches here
    size = abs(divisor)
    ifs: list[tuple[exp.Expression, exp.Expression]] = []
    overflow = _first_positive(lambda x: math.isinf(x / size))
    if math.isfinite(overflow):
        sign = math.copysign(1.0, divisor)
        ifs += [(value.copy() >= number(overflow), number(sign * INF)), (value.copy() <= number(-overflow), number(-sign * INF))]
    underflow = _first_positive(lambda x: x / size != 0.0)
    if underflow > 5e-324:
        ifs.append((exp.Abs(this=value.copy()) < number(underflow), number(0.0)))
    return _case(ifs, quotient) if ifs else quotient


def safe_shift(value: exp.Expression, constant: float, subtract: bool = False) -> exp.Expression:
    """value + constant (value - constant when `subtract`) as IEEE gives it: +-inf where
    it overflows (only possible for a constant beyond about 1e292); an addition
    never underflows."""
    constant = float(constant)
    shifted = exp.Sub if subtract else exp.Add
    plain = shifted(this=_operand(value), expression=number(constant))
    step = -constant if subtract else constant
    if step == 0 or not math.isfinite(step) or not _GUARDED.get():
        return plain
    size = abs(step)
    overflow = _first_positive(lambda x: math.isinf(x + size))
    if not math.isfinite(overflow):
        return plain
    if step > 0:
        return _case([(value.copy() >= number(overflow), number(INF))], plain)
    return _case([(value.copy() <= number(-overflow), number(-INF))], plain)


def balanced_sum(terms: list[exp.Expression]) -> exp.Expression:
    """A balanced sum: depth log2(n), so neither sqlglot nor the database's parser
    recurses once per term."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return exp.paren(balanced_sum(terms[:middle]) + balanced_sum(terms[middle:]), copy=False)


# The scaled path of a decision value: products times 2**-64, summed in the same
# order, then scaled back (each step exact while no scaled value is subnormal).
SCALE = 64
TINY = 2.0**-1000  # a product below this counts as 0 on the scaled path (it would underflow)
# Products are computed once, as columns, while they and the inputs beside them fit
# well inside PostgreSQL's 1664 columns per SELECT (else they stay inline and are
# computed twice: once for the `big` test, once in the sum). Hoisted, DuckDB scores a
# logistic regression of tests/bench/bench_scoring_sql.py 2x faster (300k rows: 0.17 s, not 0.41 s).
MAX_HOISTED = 1200


def linear_decisions(inputs: list[exp.Expression], rows: list[tuple[Sequence[float], float]], ctx: Context) -> list[exp.Expression]:
    """For each (coef, intercept) of `rows`: balanced_sum(x_i * coef_i) + intercept,
    as IEEE float64 gives it, inf or 0 included, but without an arithmetic error.

    Products are safe_product. No sum of the n + 1 addends can overflow while each is
    below 2**1023 / (n + 1): such rows (all but absurd ones) take the plain sum. A row
    with a larger addend (`big`) sums them scaled by 2**-64, in the same order, and
    scales back, or gives +-inf when that overflows; products below 2**-1000 count
    as 0 there, each an absolute difference below 1e-301.

    `inputs` should be columns. All rows' products share one query level, their
    tests the next, their scaled sums the next, so the CTE chain does not grow
    with the classes."""
    products = [[safe_product(x.copy(), w) for x, w in zip(inputs, coef)] for coef, _ in rows]
    if not _GUARDED.get():  # IEEE: the plain sum is what the scaled path would give, and never raises
        return [(balanced_sum(terms) if terms else number(0.0)) + number(float(b)) for terms, (_, b) in zip(products, rows)]
    if len(inputs) + sum(map(len, products)) <= MAX_HOISTED:
        products = [hoist(ctx, terms, "term") for terms in products]
    bigs = hoist(ctx, [_is_big(terms, b) for terms, (_, b) in zip(products, rows)], "big")
    scaled = hoist(ctx, [_scaled(inputs, coef, terms, b, big) for terms, (coef, b), big in zip(products, rows, bigs)], "scaled")
    return [
        _case([(big.copy(), _unscaled(sums))], (balanced_sum(terms) if terms else number(0.0)) + number(float(b)))
        for terms, (_, b), big, sums in zip(products, rows, bigs, scaled)
    ]


def _is_big(terms: list[exp.Expression], intercept: float) -> exp.Expression:
    bound = 2.0 ** (1023 - math.ceil(math.log2(len(terms) + 1)))
    if not terms or abs(intercept) >= bound:
        return exp.Boolean(this=bool(terms))
    sizes = [exp.Abs(this=t.copy()) for t in terms]
    return exp.Greatest(this=sizes[0], expressions=sizes[1:], ignore_nulls=True) >= number(bound)


def _scaled(inputs, coef, terms, intercept: float, big: exp.Expression) -> exp.Expression:
    """The scaled sum, computed only where `big`, else NULL."""
    if not terms:
        return exp.Null()
    down = number(2.0**-SCALE)
    scaled = []
    for x, w, term in zip(inputs, coef, terms):
        size = abs(float(w))
        if size == 0 or not math.isfinite(size):
            scaled.append(exp.Mul(this=_operand(term.copy()), expression=down.copy()))  # 0 or +-inf or NaN: exact
            continue
        tiny = _first_positive(lambda v, size=size: v * size >= TINY)  # |x * w| < TINY exactly when |x| < tiny
        scaled.append(_case([(exp.Abs(this=x.copy()) < number(tiny), number(0.0))], exp.Mul(this=_operand(term.copy()), expression=down.copy())))
    total = balanced_sum(scaled) + number(float(intercept) * 2.0**-SCALE)
    return _case([(big.copy(), total)])


def _unscaled(value: exp.Expression) -> exp.Expression:
    """value * 2**64, or +-inf (NaN stays NaN) where that overflows."""
    return _case(
        [(exp.Abs(this=value.copy()) > number(MAX * 2.0**-SCALE), exp.Mul(this=_operand(value.copy()), expression=number(INF)))],
        exp.Mul(this=_operand(value.copy()), expression=number(2.0**SCALE)),
    )
