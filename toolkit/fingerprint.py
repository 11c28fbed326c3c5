"""Step fingerprints, with definition and data kept apart.

definition  the step's normalized SQL and data-relevant config (compiler's
            content_hash), the target dialect and its upstream definitions.
            Editing a comment, the formatting or a description changes nothing.
data        the definition plus the data it was computed from: upstream data
            fingerprints and source content fingerprints (computed in the warehouse).

A table or view is reused when its data fingerprint is unchanged; an incremental
step is rebuilt only when its definition changes and otherwise takes new rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Fingerprint:
    definition: str
    data: str


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def fingerprint_steps(compiled, order: list[str], fixed: dict[str, Fingerprint], source_prints: dict[str, str], dialect: str) -> dict[str, Fingerprint]:
    """Fingerprints for every step in `order`; `fixed` ones (unselected, published) are taken as given."""
    prints: dict[str, Fingerprint] = {}
    for name in order:
        if name in fixed:
            prints[name] = fixed[name]
            continue
        step = compiled.steps[name]
        definition = _digest(step.content_hash, dialect, *(f"{u}={prints[u].definition}" for u in step.upstream))
        data = _digest(
            definition,
            *(f"{u}={prints[u].data}" for u in step.upstream),
            *(f"{s}={source_prints.get(s, '')}" for s in step.sources),
        )
        prints[name] = Fingerprint(definition, data)
    return prints
