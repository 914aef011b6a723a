"""De-duplication keys: the keyed hash that finds a source row again on a re-import, and repeats within one file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cases.importing.reading import BadRow

if TYPE_CHECKING:
    from cases.importing.checking import Row
    from core.security import PiiCipher


def row_key(cipher: PiiCipher, values: dict[str, str]) -> str:
    """Return the keyed hash of a normalised row: of its source id when it has one, else of its whole content."""
    key_source = f"source:{values['source_id']}" if values.get("source_id") else \
        "row:" + json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return cipher.lookup_hash("petition-import:" + key_source)


class SeenInFile:
    """The rows of one file accepted so far, by key and by supplied tracking number, so that a repeat is refused."""

    def __init__(self) -> None:
        # The first 16 bytes of each key, not its 64 hex digits: a large file keeps one entry per row.
        self.keys: dict[bytes, int] = {}
        self.numbers: dict[str, int] = {}

    def add(self, row: Row) -> None:
        """Remember the row, or raise BadRow (remembering nothing) when it repeats an earlier row of the file."""
        short = bytes.fromhex(row.key[:32])
        if short in self.keys:
            raise BadRow("", f"与第 {self.keys[short]} 行重复", f"duplicate of line {self.keys[short]}")
        if row.tracking_no and row.tracking_no in self.numbers:
            raise BadRow("tracking_no", f"编号 {row.tracking_no} 与第 {self.numbers[row.tracking_no]} 行重复",
                         f"tracking number {row.tracking_no} repeats line {self.numbers[row.tracking_no]}")
        self.keys[short] = row.line
        if row.tracking_no:
            self.numbers[row.tracking_no] = row.line
