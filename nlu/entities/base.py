"""The entity record and the ledger of claimed spans that the extractors share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """One fact found in a message: its type, normalised value, surface text and span."""

    type: str
    value: object
    text: str
    start: int
    end: int


class Spans:
    """Spans already claimed by an entity that later patterns must not overlap."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        """Return whether start..end overlaps no claimed span."""
        return all(end <= s or start >= e for s, e in self.spans)

    def take(self, start: int, end: int) -> None:
        """Claim start..end for an entity found there."""
        self.spans.append((start, end))
