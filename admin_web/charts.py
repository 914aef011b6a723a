"""Server-rendered inline SVG charts for the console: no JavaScript, every label escaped, titled for screen readers.

Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and described by a ``<desc>`` that
states the figures in words; each bar carries its own ``<title>`` (a tooltip). Pages show the same
numbers in a table next to the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil, log10

from markupsafe import Markup, escape


def _nice_max(value: int) -> int:
    """Round a maximum up to 1, 2 or 5 times a power of ten (the top gridline)."""
    if value <= 0:
        return 1
    power = 10 ** int(log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _ticks(top: int) -> list[int]:
    step = max(1, top // 4) if top >= 4 else 1
    return list(range(0, top + 1, step))


def _shell(chart_id: str, title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    cid = escape(chart_id)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{cid}-title {cid}-desc">'
            f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _describe(data: Sequence[tuple[str, int]], limit: int = 12) -> str:
    shown = "; ".join(f"{label}: {value}" for label, value in data[:limit])
    more = f"; … (+{len(data) - limit})" if len(data) > limit else ""
    return f"{shown}{more}" if data else "—"


def column_chart(chart_id: str, title: str, data: Sequence[tuple[str, int]], *, empty: str = "—",
                 width: int = 720, height: int = 220, label_every: int | None = None) -> Markup:
    """Draw vertical bars (one per label, e.g. one per day) with a value axis."""
    left, right, top_pad, bottom = 36, 8, 10, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    body: list[str] = []
    if not data or not any(v for _, v in data):
        body.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" class="empty">{escape(empty)}</text>')
        return _shell(chart_id, title, _describe(data), width, height, body)
    top = _nice_max(max(v for _, v in data))
    for tick in _ticks(top):
        y = top_pad + plot_h - plot_h * tick / top
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid" stroke="#d5dbe3"/>'
                    f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    slot = plot_w / len(data)
    bar_w = max(1.0, slot * 0.75)
    every = label_every or max(1, ceil(len(data) / 10))
    for i, (label, value) in enumerate(data):
        h = plot_h * value / top
        x = left + i * slot + (slot - bar_w) / 2
        y = top_pad + plot_h - h
        body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                    f'<title>{escape(label)}: {value}</title></rect>')
        if i % every == 0:
            body.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">{escape(label)}</text>')
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" stroke="#5f6b7a"/>')
    return _shell(chart_id, title, _describe(data), width, height, body)


def bar_chart(chart_id: str, title: str, data: Sequence[tuple[str, int]], *, empty: str = "—", width: int = 460,
              row: int = 24, label_width: int = 150) -> Markup:
    """Draw horizontal bars (one row per label, e.g. per category), the value written after each bar."""
    height = max(60, 12 + row * len(data))
    body: list[str] = []
    if not data or not any(v for _, v in data):
        body.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" class="empty">{escape(empty)}</text>')
        return _shell(chart_id, title, _describe(data), width, height, body)
    top = max(v for _, v in data)
    plot_w = width - label_width - 50
    for i, (label, value) in enumerate(data):
        y = 6 + i * row
        w = plot_w * value / top if top else 0
        shown = label if len(label) <= 12 else label[:11] + "…"
        body.append(f'<text x="{label_width - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">{escape(shown)}</text>'
                    f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 8}">'
                    f'<title>{escape(label)}: {value}</title></rect>'
                    f'<text x="{label_width + w + 4:.1f}" y="{y + row * 0.65:.1f}">{value}</text>')
    return _shell(chart_id, title, _describe(data), width, height, body)
