"""Plots as SVG text, made when the site is built, from numbers the registry and the
monitoring table already hold (evaluation.py's curves, toolkit.monitoring's values).

Hand-written SVG rather than matplotlib or vega-lite: every plot here is a handful of
polylines, rectangles and labels over a known range (ROC and PR live in [0, 1]), which
is ~150 lines of Python; matplotlib would be a 30 MB dependency (and seconds of import)
for that, and vega-lite a 700 KB script to ship and run in the page. The SVG is static
(no script, no network), small (a 200-point curve is ~4 KB) and styled by the site's
CSS through class names (`plot`, `series-0`, ...). Every text is escaped.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 360, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 24, 40


def _number(value: float) -> str:
    return f"{value:.4g}"


def _frame(kind: str, title: str, body: list[str], x_label: str, y_label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="plot {escape(kind)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title>'
        f'<text class="plot-title" x="{width / 2}" y="15" text-anchor="middle">{escape(title)}</text>'
        + "".join(body)
        + f'<text class="axis-label" x="{LEFT + (width - LEFT - RIGHT) / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="axis-label" x="12" y="{TOP + (height - TOP - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + (height - TOP - BOTTOM) / 2})">{escape(y_label)}</text></svg>'
    )


class _Scale:
    def __init__(self, low: float, high: float, start: float, end: float):
        self.low, self.high = low, (high if high > low else low + 1)
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return round(self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start), 2)


def _axes(x: _Scale, y: _Scale, width: int, height: int, x_ticks=None, y_ticks=None) -> list[str]:
    out = [f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{width - LEFT - RIGHT}" height="{height - TOP - BOTTOM}"/>']
    for value in x_ticks if x_ticks is not None else _ticks(x.low, x.high):
        out.append(f'<line class="grid" x1="{x(value)}" x2="{x(value)}" y1="{TOP}" y2="{height - BOTTOM}"/>'
                   f'<text class="tick" x="{x(value)}" y="{height - BOTTOM + 13}" text-anchor="middle">{_number(value)}</text>')
    for value in y_ticks if y_ticks is not None else _ticks(y.low, y.high):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(value)}" y2="{y(value)}"/>'
                   f'<text class="tick" x="{LEFT - 4}" y="{y(value) + 3}" text-anchor="end">{_number(value)}</text>')
    return out


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def lines(kind: str, title: str, series: list[tuple[str, list, list]], x_label: str, y_label: str,
          unit_square: bool = False, diagonal: bool = False, reference: float | None = None, markers: bool = False) -> str:
    """Polylines, one per (name, xs, ys); None values break nothing (the point is skipped)."""
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys) if x is not None and y is not None]
    if unit_square or not points:
        x_low, x_high, y_low, y_high = 0.0, 1.0, 0.0, 1.0
    else:
        x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
        y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
        if reference is not None:
            y_low, y_high = min(y_low, reference), max(y_high, reference)
    x = _Scale(x_low, x_high, LEFT, WIDTH - RIGHT)
    y = _Scale(y_low, y_high, HEIGHT - BOTTOM, TOP)
    body = _axes(x, y, WIDTH, HEIGHT)
    if diagonal:
        body.append(f'<line class="diagonal" x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}"/>')
    if reference is not None:
        body.append(f'<line class="reference" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(reference)}" y2="{y(reference)}"/>')
    for index, (name, xs, ys) in enumerate(series):
        pairs = [(x(a), y(b)) for a, b in zip(xs, ys) if a is not None and b is not None]
        path = " ".join(f"{a},{b}" for a, b in pairs)
        body.append(f'<polyline class="series series-{index % 6}" points="{path}"><title>{escape(name)}</title></polyline>')
        if markers:
            body.extend(f'<circle class="series-{index % 6}" cx="{a}" cy="{b}" r="2.5"/>' for a, b in pairs)
    if len(series) > 1:
        for index, (name, _, _) in enumerate(series[:6]):
            top = TOP + 12 + index * 13
            body.append(f'<rect class="legend series-{index}" x="{LEFT + 8}" y="{top - 8}" width="10" height="4"/>'
                        f'<text class="legend-text" x="{LEFT + 22}" y="{top}">{escape(name)}</text>')
    return _frame(kind, title, body, x_label, y_label)


def scatter(kind: str, title: str, xs: list, ys: list, x_label: str, y_label: str) -> str:
    """Points, with the line y = x (predicted against actual)."""
    values = [v for v in [*xs, *ys] if v is not None] or [0.0, 1.0]
    low, high = min(values), max(values)
    x = _Scale(low, high, LEFT, WIDTH - RIGHT)
    y = _Scale(low, high, HEIGHT - BOTTOM, TOP)
    body = _axes(x, y, WIDTH, HEIGHT)
    body.append(f'<line class="diagonal" x1="{x(low)}" y1="{y(low)}" x2="{x(high)}" y2="{y(high)}"/>')
    body.extend(f'<circle class="point" cx="{x(a)}" cy="{y(b)}" r="2"/>' for a, b in zip(xs, ys) if a is not None and b is not None)
    return _frame(kind, title, body, x_label, y_label)


def bars(kind: str, title: str, edges_or_names: list, values: list, x_label: str, y_label: str, horizontal: bool = False) -> str:
    """A histogram (len(edges) == len(values) + 1) or, horizontal, named bars (importances)."""
    if horizontal:
        height = TOP + BOTTOM + 14 * len(values)
        width, left = WIDTH + 160, 215
        high = max([abs(v) for v in values if v is not None] or [1.0])
        scale = _Scale(0, high, left, width - RIGHT)
        body = []
        for index, (name, value) in enumerate(zip(edges_or_names, values)):
            top = TOP + index * 14
            body.append(f'<text class="tick" x="{left - 4}" y="{top + 10}" text-anchor="end">{escape(str(name))[:32]}</text>'
                        f'<rect class="bar" x="{left}" y="{top + 2}" width="{scale(abs(value or 0)) - left}" height="10">'
                        f'<title>{escape(str(name))}: {_number(value or 0)}</title></rect>')
        return _frame(kind, title, body, x_label, y_label, width, height)
    x = _Scale(edges_or_names[0], edges_or_names[-1], LEFT, WIDTH - RIGHT)
    y = _Scale(0, max(values or [1]), HEIGHT - BOTTOM, TOP)
    body = _axes(x, y, WIDTH, HEIGHT, x_ticks=_ticks(edges_or_names[0], edges_or_names[-1]))
    for low, high, count in zip(edges_or_names, edges_or_names[1:], values):
        body.append(f'<rect class="bar" x="{x(low)}" y="{y(count)}" width="{max(x(high) - x(low) - 1, 1)}" '
                    f'height="{y(0) - y(count)}"><title>{_number(low)} to {_number(high)}: {count}</title></rect>')
    return _frame(kind, title, body, x_label, y_label)


def confusion(labels: list, matrix: list[list[int]]) -> str:
    """Rows: actual class; columns: predicted class; cells shaded by their share of the row."""
    n = len(labels)
    cell = max(28, min(70, 280 // max(n, 1)))
    width, height = LEFT + 40 + cell * n + RIGHT, TOP + 30 + cell * n + BOTTOM
    body = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            x, y = LEFT + 40 + j * cell, TOP + 20 + i * cell
            share = count / total
            body.append(f'<rect class="cell{" diagonal-cell" if i == j else ""}" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                        f'fill-opacity="{0.1 + 0.85 * share:.3f}"><title>actual {escape(str(labels[i]))}, predicted '
                        f'{escape(str(labels[j]))}: {count}</title></rect>'
                        f'<text class="cell-text" x="{x + cell / 2 - 1}" y="{y + cell / 2 + 3}" text-anchor="middle">{count}</text>')
    for k, label in enumerate(labels):
        body.append(f'<text class="tick" x="{LEFT + 40 + k * cell + cell / 2}" y="{TOP + 14}" text-anchor="middle">{escape(str(label))}</text>'
                    f'<text class="tick" x="{LEFT + 34}" y="{TOP + 20 + k * cell + cell / 2 + 3}" text-anchor="end">{escape(str(label))}</text>')
    return _frame("confusion-matrix", "Confusion matrix (held-out rows)", body, "predicted", "actual", width, height)
