"""What an import did: the report of one file and the CSV of the rows it skipped."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Reject:
    """A skipped row: the file, its line and why."""

    file: str
    line: int
    column: str
    reason: str


@dataclass
class Report:
    """What an import did with one file."""

    file: str
    read: int = 0
    imported: int = 0
    already: int = 0
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0
    dry_run: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.rejects)

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def summary(self, rejects_path: str | None = None) -> str:
        """Say in one line what was read, imported and skipped, and how fast."""
        verb = "valid" if self.dry_run else "imported"
        where = f" (see {rejects_path})" if rejects_path and self.rejects else ""
        return (f"{self.file}: read {self.read}, {verb} {self.imported}, already imported {self.already}, "
                f"skipped {self.skipped}{where}; {self.seconds:.1f} s, {self.rate:,.0f} rows/s")


def write_rejects(path: Path | str, rejects: list[Reject], *, append: bool = False) -> None:
    """Write the skipped rows (file, line, column, reason) as a UTF-8 CSV."""
    path = Path(path)
    with path.open("a" if append else "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        if not append or fh.tell() == 0:
            writer.writerow(["file", "line", "column", "reason"])
        for r in rejects:
            writer.writerow([r.file, r.line, r.column, r.reason])
