"""The bundled district boundaries against the shared copy, and the SVG choropleth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from risk.geo import city_districts, colour, svg_map

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "geo"


def test_changsha_districts_from_the_package():
    shapes = city_districts("430100")
    names = {s.code: s.name for s in shapes}
    assert len(shapes) == 9 and names["430104"] == "岳麓区" and names["430181"] == "浏阳市"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/geo is not here")
def test_bundled_boundaries_agree_with_the_shared_copy():
    shared = json.loads((SHARED / "changsha_430100_districts.geojson").read_text(encoding="utf-8"))
    expected = {str(f["properties"]["adcode"]): f["properties"]["centroid"] for f in shared["features"]}
    ours = {s.code: s.centroid() for s in city_districts("430100")}
    assert set(ours) == set(expected)
    for code, (lon, lat) in expected.items():
        # Two independent sources of the same boundaries: centroids within about 3 km.
        assert abs(ours[code][0] - lon) < 0.03 and abs(ours[code][1] - lat) < 0.03, code
    from_file = city_districts("430100", str(SHARED / "changsha_430100_districts.geojson"))
    assert {s.code for s in from_file} == set(expected)


def test_svg_choropleth_fills_links_and_escapes():
    shapes = city_districts("430100")
    svg = str(svg_map(shapes, {"430104": 10, "430111": 5}, markers={"430104": 4}, link="/console/analyst?area={code}",
                      labels={"430104": "<b>岳麓区</b>"}, title="信访热力 <map>"))
    assert svg.count("<path") == 9 and 'data-code="430104" data-value="10"' in svg
    assert 'href="/console/analyst?area=430104"' in svg and "&lt;b&gt;岳麓区&lt;/b&gt;" in svg and "<b>" not in svg
    assert 'data-count="4"' in svg and "信访热力 &lt;map&gt;" in svg
    assert colour(10, 10) != colour(5, 10) != colour(0, 10)
