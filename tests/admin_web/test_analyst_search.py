"""The analyst's keyword search: title or body, any case, wildcards taken literally, or a tracking number."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.cases.helpers import register

SH = ZoneInfo("Asia/Shanghai")


def rows_of(html: str) -> set[str]:
    return set(re.findall(r'data-testid="stream-row" data-tracking="([^"]+)"', html))


def test_keyword_finds_title_or_body_and_counts_match(db, as_role):
    with db.transaction() as s:
        parking, _ = register(s, now=datetime(2026, 3, 2, 10, tzinfo=SH), title="小区停车位被占",
                              content="地下车库的停车位长期被外来车辆占用。")
        wages, _ = register(s, now=datetime(2026, 3, 3, 10, tzinfo=SH), title="讨薪", content="公司拖欠工资三个月，100%没发。")
        english, _ = register(s, now=datetime(2026, 3, 4, 10, tzinfo=SH), title="Noise at night", language="en",
                              content="Construction NOISE after 11 pm near Meixi Lake.")
    client = as_role("analyst")
    page = client.get("/console/analyst", params={"q": "停车位"})
    assert page.status_code == 200 and rows_of(page.text) == {parking.tracking_no}
    assert rows_of(client.get("/console/analyst", params={"q": "拖欠工资"}).text) == {wages.tracking_no}
    assert rows_of(client.get("/console/analyst", params={"q": "noise"}).text) == {english.tracking_no}
    # % and _ are literal characters, not wildcards.
    assert rows_of(client.get("/console/analyst", params={"q": "100%"}).text) == {wages.tracking_no}
    assert rows_of(client.get("/console/analyst", params={"q": "%"}).text) == {wages.tracking_no}
    assert rows_of(client.get("/console/analyst", params={"q": "_"}).text) == set()
    assert rows_of(client.get("/console/analyst", params={"q": parking.tracking_no.lower()}).text) == {parking.tracking_no}
    # The keyword narrows the charts and the export as well as the list.
    assert 'value="停车位"' in page.text
    export = client.get("/console/analyst/export.csv", params={"q": "停车位"})
    assert export.status_code == 200 and parking.tracking_no in export.text and wages.tracking_no not in export.text
