"""Read CSV or JSONL files into raw rows, one per record, and the errors a file or a row can be refused with."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

FORMATS = ("csv", "jsonl")


class FileRefused(Exception):
    """A file that cannot be imported at all (unknown format, unreadable header)."""


class BadRow(Exception):
    """A row that is skipped, with the field at fault and the reason in Chinese and English."""

    def __init__(self, column: str, zh: str, en: str):
        super().__init__(en)
        self.column, self.zh, self.en = column, zh, en

    @property
    def reason(self) -> str:
        return f"{self.zh} / {self.en}"


def detect_format(path: Path, fmt: str | None = None) -> str:
    """Return the file's format: the one given, else by extension (.csv, .jsonl / .ndjson)."""
    if fmt:
        if fmt not in FORMATS:
            raise FileRefused(f"unknown format {fmt!r}; use csv or jsonl")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise FileRefused(f"{path.name}: cannot tell the format from the extension; pass --format csv or jsonl")


def read_rows(path: Path, fmt: str, *, on_bytes: Callable[[int], None] | None = None
              ) -> Iterator[tuple[int, dict | BadRow]]:
    """Yield (line number, raw row) per record, or (line, BadRow) for a record that cannot be parsed."""
    with path.open("rb") as fh:
        lines = _decoded(fh, on_bytes)
        if fmt == "jsonl":
            for line_no, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield line_no, BadRow("", f"JSON 语法错误：{exc.msg}（第 {exc.colno} 列）",
                                          f"JSON syntax error: {exc.msg} at column {exc.colno}")
                    continue
                if not isinstance(raw, dict):
                    yield line_no, BadRow("", "每行应为一个 JSON 对象", "each line must be one JSON object")
                    continue
                yield line_no, _flatten(raw)
            return
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for values in reader:
            line_no, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                yield line_no, BadRow("", f"字段数 {len(values)} 多于表头的 {len(header)} 个",
                                      f"{len(values)} fields but the header has {len(header)}")
                continue
            yield line_no, dict(zip(header, values, strict=False))


def _decoded(fh, on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    first = True
    for raw in fh:
        if on_bytes is not None:
            on_bytes(len(raw))
        line = raw.decode("utf-8", errors="replace")
        if first:
            line, first = line.removeprefix("\ufeff"), False
        yield line


def _flatten(raw: dict) -> dict:
    person = raw.get("petitioner")
    if isinstance(person, dict):
        raw = {k: v for k, v in raw.items() if k != "petitioner"}
        for key in ("name", "phone", "id_number"):
            if person.get(key) is not None:
                raw.setdefault(f"petitioner_{key}", person[key])
    return raw
