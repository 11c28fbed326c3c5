"""Where each DAG node goes, computed when the site is built (the page only draws).

Layered left to right (a Sugiyama layout cut to its two cheap parts): a node's column
is the longest path from a node with no inputs, and within a column nodes are ordered
by the mean position of their inputs, then of their readers (two sweeps each way).
Linear in nodes + edges per sweep: 500 steps lay out in milliseconds.
"""

from __future__ import annotations

NODE_WIDTH, NODE_HEIGHT = 190, 26
COLUMN_GAP, ROW_GAP = 70, 10


def layout(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[dict[str, tuple[int, int]], int, int]:
    """{node: (x, y)} of each node's top-left corner, and the drawing's width and height.
    `nodes` must be in dependency order (every edge goes from an earlier node to a later one)."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        parents[b].append(a)
        children[a].append(b)
    layer: dict[str, int] = {}
    for node in nodes:
        layer[node] = 1 + max((layer[p] for p in parents[node]), default=-1)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in nodes:
        columns[layer[node]].append(node)
    position = {n: float(i) for column in columns for i, n in enumerate(column)}

    def sweep(order: list[list[str]], neighbours: dict[str, list[str]]) -> None:
        for column in order:
            def key(node: str) -> float:
                found = [position[n] for n in neighbours[node]]
                return sum(found) / len(found) if found else position[node]

            column.sort(key=key)
            for i, node in enumerate(column):
                position[node] = float(i)

    for _ in range(2):
        sweep(columns[1:], parents)
        sweep(list(reversed(columns[:-1])), children)
    tallest = max((len(c) for c in columns), default=0)
    placed = {}
    for index, column in enumerate(columns):
        offset = (tallest - len(column)) * (NODE_HEIGHT + ROW_GAP) / 2  # centre short columns
        for row, node in enumerate(column):
            placed[node] = (index * (NODE_WIDTH + COLUMN_GAP) + 10, int(offset + row * (NODE_HEIGHT + ROW_GAP)) + 10)
    width = len(columns) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP + 20
    height = tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP + 20
    return placed, max(width, 0), max(height, 0)
