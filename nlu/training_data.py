"""Labelled petition text for the category classifier: CSV rows and the fields a text is split into.

A row keeps its text columns apart as fields (title, body) so that the features can weigh each
field on its own; a plain string is split into the same fields at its first line break.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """Input data (a CSV file, a column, a model directory) is missing or unusable."""


@dataclass(frozen=True)
class Row:
    """One CSV row: its text fields in column order, its label (if read), and the original record."""

    fields: tuple[str, ...]
    label: str | None
    record: dict[str, str] = field(repr=False)
    source: str = ""
    line: int = 0

    @property
    def text(self) -> str:
        """Return the non-empty fields joined by newlines."""
        return "\n".join(f for f in self.fields if f)


def as_fields(text: str | Sequence[str]) -> tuple[str, ...]:
    """Return a text's fields: a sequence as given, a string split into title and body at its first line break."""
    if not isinstance(text, str):
        return tuple(text)
    # A plain string is split at its first line break, the way Row.text joins a title and a body, so
    # that "title\nbody" from a caller gets the same title-aware features as the two fields would.
    head, newline, rest = text.partition("\n")
    return (head, rest) if newline and head.strip() and rest.strip() else (text,)


def _columns(spec: str | Sequence[str]) -> list[str]:
    cols = [c.strip() for c in spec.split(",")] if isinstance(spec, str) else [c.strip() for c in spec]
    cols = [c for c in cols if c]
    if not cols:
        raise DataError("no text column given")
    return cols


def read_rows(paths: Iterable[str | Path], *, text_cols: str | Sequence[str], label_col: str | None = None) -> list[Row]:
    """Read CSV rows; a text column a file lacks counts as empty, a file with none of them is an error."""
    cols = _columns(text_cols)
    rows: list[Row] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                header = reader.fieldnames or []
                present = [c for c in cols if c in header]
                if not present:
                    raise DataError(f"{path}: none of the text columns {', '.join(cols)} is in the header "
                                    f"({', '.join(header) or 'empty file'})")
                if label_col and label_col not in header:
                    raise DataError(f"{path}: no label column {label_col!r} (columns: {', '.join(header)})")
                for number, record in enumerate(reader, start=2):
                    texts = tuple((record.get(c) or "").strip() for c in cols)
                    label = (record.get(label_col) or "").strip() if label_col else None
                    rows.append(Row(texts, label, dict(record), str(path), number))
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
        except csv.Error as exc:
            raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    return rows
