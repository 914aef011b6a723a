"""Entities in one message: identifiers, numbers, head-counts, dates, places and self-introductions.

Spans index into the text as given; pass ``normalize()``d text so that full-width digits and traditional
characters are handled. Identifiers are found first and their spans are closed to the later patterns, so
a phone number is never read out of an ID number and a tracking number never yields a number. A `number`
is only reported where no other entity covers it.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from nlu.entities.base import Entity, Spans
from nlu.entities.dates import find_dates
from nlu.entities.ids import find_identifiers, id_number_valid
from nlu.entities.names import find_names
from nlu.entities.numerals import ZH_NUM, parse_number
from nlu.entities.places import find_addresses, find_areas
from nlu.entities.quantities import find_head_counts, find_numbers

if TYPE_CHECKING:
    from nlu.areas import AreaIndex

__all__ = ["ZH_NUM", "Entity", "extract", "id_number_valid", "parse_number"]


def extract(text: str, *, areas: AreaIndex | None = None, today: date | None = None) -> list[Entity]:
    """Return the entities found in text, ordered by position."""
    text = text or ""
    found: list[Entity] = []
    taken = Spans()
    find_identifiers(text, found, taken)
    find_dates(text, today or date.today(), found, taken)
    find_head_counts(text, found, taken)
    mentions = areas.find(text) if areas is not None else []
    if areas is not None:
        find_areas(text, areas, mentions, found, taken)
    find_addresses(text, mentions, found, taken)
    find_names(text, found, taken)
    find_numbers(text, found, taken)
    found.sort(key=lambda e: (e.start, -e.end))
    return found
