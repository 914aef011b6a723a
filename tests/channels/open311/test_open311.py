"""Open311 GeoReport v2: discovery, service definitions, filing and following requests, errors, privacy."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from cases import catalog
from cases import service as cases
from cases.models import Petition, Supplement
from cases.schemas import PetitionCreate, TransitionIn
from core.db import utcnow
from core.settings import configure
from server.app import create_app
from tests.conftest import ADMIN

KEY = "open311-test-key-1234"
BASE = "/open311/v2"
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
                  "address", "address_id", "zipcode", "lat", "long", "media_url"]
W3 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"
DESCRIPTION = "我家小区申请的公租房一年多还没有分配结果，多次打电话询问都说在排队。"


def _app(settings):
    return create_app(settings)


@pytest.fixture
def client(db, settings):
    enabled = settings.model_copy(update={"open311_api_key": SecretStr(KEY)})
    try:
        with TestClient(_app(enabled)) as c:
            yield c
    finally:
        configure(settings)


@pytest.fixture
def codes(db):
    with db.session() as s:
        return {"housing": catalog.resolve_category(s, "城乡建设/住房保障").code,
                "labour": catalog.resolve_category(s, "劳动和社会保障/劳动关系").code,
                "urban": catalog.resolve_category(s, "城乡建设").code,
                "level3": catalog.resolve_category(s, "城乡建设/住房保障/公租房申请").code,
                "lugu": next(a.code for a in catalog.list_areas(s, parent="430104") if a.name == "麓谷街道")}


def post(client, fmt="json", **fields):
    return client.post(f"{BASE}/requests.{fmt}", data={"api_key": KEY, **fields})


def file(client, codes, **fields):
    body = {"service_code": codes["housing"], "address_string": "长沙市岳麓区麓谷街道枫林三路", "description": DESCRIPTION,
            **fields}
    r = post(client, **body)
    assert r.status_code == 200, r.text
    return r.json()[0]


def petitions(db) -> list[Petition]:
    with db.session() as s:
        return list(s.scalars(select(Petition).order_by(Petition.id)))


def xml(response) -> ET.Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def spec_error(response, status: int, mentions: str | None = None, fmt: str = "json") -> str:
    assert response.status_code == status, response.text
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "errors" and [e.tag for e in root] == ["error"] * len(root) and len(root) >= 1
        assert root.find("error/code").text == str(status)
        text = " ".join(e.findtext("description") for e in root)
    else:
        body = response.json()
        assert isinstance(body, list) and body and all(set(e) == {"code", "description"} for e in body)
        assert all(e["code"] == status for e in body)
        text = " ".join(e["description"] for e in body)
    if mentions:
        assert mentions in text, text
    return text


def test_services_in_json_and_xml(client, codes, db):
    r = client.get(f"{BASE}/services.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    services = r.json()
    with db.session() as s:
        expected = [c.code for c in catalog.list_categories(s) if c.level <= 2]
    assert [x["service_code"] for x in services] == expected and len(expected) == 15 + 76
    assert all(list(x) == SERVICE_FIELDS for x in services)
    by_code = {x["service_code"]: x for x in services}
    housing = by_code[codes["housing"]]
    assert housing["service_name"] == "住房保障" and housing["group"] == "城乡建设"
    assert housing["metadata"] is True and housing["type"] == "realtime"
    keywords = housing["keywords"].split(", ")
    assert {"住房保障", "Housing security", "城乡建设", "公租房申请", "Public rental housing applications"} <= set(keywords)
    assert "Housing security" in housing["description"] and "公租房申请" in housing["description"]
    assert by_code[codes["urban"]]["group"] == "城乡建设" and codes["level3"] not in by_code

    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root) == len(services)
    for element, service in zip(root, services, strict=True):
        assert element.tag == "service" and [child.tag for child in element] == SERVICE_FIELDS
        assert element.findtext("service_code") == service["service_code"]
        assert element.findtext("keywords") == service["keywords"] and element.findtext("metadata") == "true"

    assert client.get(f"{BASE}/services.json", params={"jurisdiction_id": "changsha.gov.cn"}).status_code == 200
    spec_error(client.get(f"{BASE}/services.json", params={"jurisdiction_id": "sfgov.org"}), 404, "jurisdiction_id")
    spec_error(client.get(f"{BASE}/services.xml", params={"jurisdiction_id": "sfgov.org"}), 404, "sfgov.org", fmt="xml")
    spec_error(client.get(f"{BASE}/services.html"), 404, ".json or .xml")
    spec_error(client.get(f"{BASE}/services"), 404)


def test_discovery(client):
    found = client.get(f"{BASE}/discovery.json").json()
    endpoint = found["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2" and endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"] and endpoint["type"] == "test"
    root = xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery" and [f.text for f in root.find("endpoints/endpoint/formats")] == endpoint["formats"]


def test_service_definition(client, codes):
    r = client.get(f"{BASE}/services/{codes['housing']}.json")
    assert r.status_code == 200, r.text
    definition = r.json()
    assert definition["service_code"] == codes["housing"]
    attributes = definition["attributes"]
    assert [(a["code"], a["datatype"], a["order"]) for a in attributes] == [
        ("area", "singlevaluelist", 1), ("demand", "text", 2), ("head_count", "number", 3), ("occurred_on", "string", 4),
        ("previous_tracking_no", "string", 5)]
    for a in attributes:
        assert list(a) == ["variable", "code", "datatype", "required", "datatype_description", "order", "description",
                           "values"]
        assert a["variable"] is True and a["required"] is False and a["description"]
    districts = attributes[0]["values"]
    assert len(districts) == 9 and {"key": "430104", "name": "岳麓区 (Yuelu District)"} in districts

    root = xml(client.get(f"{BASE}/services/{codes['urban']}.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == codes["urban"]
    area = root.find("attributes/attribute")
    assert [c.tag for c in root.find("attributes")] == ["attribute"] * 5
    assert area.findtext("code") == "area" and area.findtext("variable") == "true" and area.findtext("required") == "false"
    keys = [v.findtext("key") for v in area.find("values")]
    assert "430111" in keys and all(v.tag == "value" for v in area.find("values"))
    assert root.find("attributes/attribute[2]/datatype_description").text is None  # null is an empty element

    spec_error(client.get(f"{BASE}/services/99.json"), 404, "'99'")
    spec_error(client.get(f"{BASE}/services/99.xml"), 404, "service_code", fmt="xml")
    spec_error(client.get(f"{BASE}/services/{codes['level3']}.json"), 404)
    spec_error(client.get(f"{BASE}/services/{codes['housing']}.json", params={"jurisdiction_id": "x.org"}), 404)


def test_post_json_files_a_petition(client, codes, db):
    r = post(client, service_code=codes["housing"], address_string="长沙市岳麓区麓谷街道枫林三路", description=DESCRIPTION,
             first_name="三", last_name="张", phone="139 0000 1111", email="zhang@example.com", account_id="acct-7",
             media_url="https://img.example.com/p/1.jpg", lat="28.2135", long="112.8903",
             **{"attribute[head_count]": "6", "attribute[demand]": "尽快分配公租房", "attribute[occurred_on]": "2025-10-01"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8", r.text
    [answer] = r.json()
    assert list(answer) == ["service_request_id", "token", "service_notice", "account_id"]
    no = answer["service_request_id"]
    assert re.fullmatch(r"XF-\d{8}-\d{6}", no) and answer["account_id"] == "acct-7"
    assert no in answer["service_notice"] and "acceptance" in answer["service_notice"]

    [p] = petitions(db)
    assert (p.tracking_no, p.channel, p.content, p.language) == (no, "open311", DESCRIPTION, "zh")
    assert p.area_code == codes["lugu"] and p.address == "长沙市岳麓区麓谷街道枫林三路"
    assert p.head_count == 6 and p.is_collective and p.demand == "尽快分配公租房" and p.occurred_on == "2025-10-01"
    assert p.status == "registered" and p.title.startswith("我家小区申请的公租房") and len(p.title) <= 40
    with db.session() as s:
        petition = s.get(Petition, p.id)
        assert petition.category.code == codes["housing"]
        assert (petition.petitioner.name, petition.petitioner.phone) == ("张三", "13900001111")
        assert petition.source_hash == cases.source_digest("open311", "account:acct-7")
        [supplement] = s.scalars(select(Supplement).where(Supplement.petition_id == p.id)).all()
        assert supplement.channel == "open311"
        assert {"kind": "url", "url": "https://img.example.com/p/1.jpg", "source": "open311 media_url"} in supplement.attachments
        assert {"kind": "location", "lat": 28.2135, "long": 112.8903, "source": "open311"} in supplement.attachments


def test_post_xml_with_area_attribute(client, codes, db):
    r = post(client, "xml", service_code=codes["labour"], description="The company has not paid our wages for three months.",
             **{"attribute[area]": "430111", "attribute[previous_tracking_no]": "xf-20250101-000001"})
    assert r.status_code == 200, r.text
    root = xml(r)
    assert root.tag == "service_requests" and [c.tag for c in root] == ["request"]
    request = root.find("request")
    assert [c.tag for c in request] == ["service_request_id", "token", "service_notice", "account_id"]
    assert request.find("account_id").text is None
    [p] = petitions(db)
    assert p.tracking_no == request.findtext("service_request_id")
    assert (p.channel, p.area_code, p.language, p.head_count) == ("open311", "430111", "en", 1)
    assert p.previous_tracking_no == "XF-20250101-000001" and p.petitioner_id is None
    assert p.title == "The company has not paid our wages for three months."
    # A district chosen by name and a street the address names inside it.
    post(client, service_code=codes["labour"], description="欠薪", address_string="麓谷街道",
         **{"attribute[area]": "岳麓区"}).raise_for_status()
    assert petitions(db)[-1].area_code == codes["lugu"]


def test_api_key_is_required_and_checked(client, codes, db, settings):
    body = {"service_code": codes["housing"], "address_string": "岳麓区", "description": DESCRIPTION}
    spec_error(client.post(f"{BASE}/requests.json", data=body), 403, "api_key was not provided")
    spec_error(client.post(f"{BASE}/requests.xml", data=body), 403, "api_key was not provided", fmt="xml")
    spec_error(client.post(f"{BASE}/requests.json", data={**body, "api_key": KEY + "x"}), 403, "Invalid api_key")
    spec_error(client.post(f"{BASE}/requests.json", data={**body, "api_key": ""}), 403)
    assert petitions(db) == []

    disabled = settings.model_copy(update={"open311_api_key": None})
    try:
        with TestClient(_app(disabled)) as c:
            spec_error(c.post(f"{BASE}/requests.json", data={**body, "api_key": KEY}), 403, "Open311 posting is not enabled")
            assert c.get(f"{BASE}/services.json").status_code == 200
    finally:
        configure(settings)
    assert petitions(db) == []


BAD_POSTS = [
    ({"service_code": "99"}, 404, "service_code '99' was not found"),
    ({"service_code": ""}, 400, "service_code was not provided"),
    ({"description": ""}, 400, "description was not provided"),
    ({"description": "   "}, 400, "description was not provided"),
    ({"description": "长" * 4001}, 400, "4000"),
    ({"address_string": "", "lat": "28.2", "long": "112.9"}, 400, "attribute[area]"),
    ({"address_string": ""}, 400, "location was not provided"),
    ({"address_string": "枫林三路 12 号"}, 400, "names no district"),
    ({"address_string": "", "address_id": "555"}, 400, "address_id"),
    ({"lat": "north", "long": "112.9"}, 400, "lat and long"),
    ({"lat": "28.2"}, 400, "lat and long"),
    ({"attribute[area]": "999999"}, 400, "attribute[area]"),
    ({"attribute[area]": "430100"}, 400, "attribute[area]"),
    ({"attribute[colour]": "red"}, 400, "unknown attribute[colour]"),
    ({"attribute[head_count]": "many"}, 400, "head_count"),
    ({"attribute[head_count]": "0"}, 400, "head_count"),
    ({"attribute[previous_tracking_no]": "12345"}, 400, "previous_tracking_no"),
    ({"attribute[occurred_on]": "x" * 41}, 400, "occurred_on"),
    ({"phone": "call me"}, 400, "phone"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
]


@pytest.mark.parametrize(("change", "status", "mentions"), BAD_POSTS)
def test_bad_posts_get_spec_errors(client, codes, db, change, status, mentions):
    body = {"service_code": codes["housing"], "address_string": "长沙市岳麓区", "description": DESCRIPTION, **change}
    spec_error(post(client, **body), status, mentions)
    assert petitions(db) == []


def test_missing_arguments_are_listed_together_and_other_bodies_refused(client, codes, db):
    text = spec_error(post(client), 400)
    assert "service_code" in text and "location" in text and "description" in text
    r = client.post(f"{BASE}/requests.json", json={"api_key": KEY, "service_code": codes["housing"]})
    spec_error(r, 400, "x-www-form-urlencoded")
    spec_error(client.post(f"{BASE}/requests.csv", data={"api_key": KEY}), 404, ".json or .xml")
    spec_error(client.post(f"{BASE}/requests/XF-20260101-000001.json", data={"api_key": KEY}), 404)
    assert petitions(db) == []


def test_multipart_form_is_read_too(client, codes, db):
    r = client.post(f"{BASE}/requests.json", files={"photo": ("p.jpg", b"\xff\xd8", "image/jpeg")},
                    data={"api_key": KEY, "service_code": codes["housing"], "description": DESCRIPTION,
                          "address_string": "岳麓区"})
    assert r.status_code == 200, r.text
    assert petitions(db)[0].area_code == "430104"


def test_get_one_request_in_json_and_xml(client, codes, db):
    filed = file(client, codes)
    no = filed["service_request_id"]
    r = client.get(f"{BASE}/requests/{no}.json")
    assert r.status_code == 200, r.text
    [one] = r.json()
    assert list(one) == REQUEST_FIELDS
    assert (one["service_request_id"], one["status"], one["status_notes"]) == (no, "open", "已登记 / Registered")
    assert (one["service_code"], one["service_name"]) == (codes["housing"], "住房保障")
    assert one["address"] == "麓谷街道, 岳麓区, 长沙市" and one["address_id"] == codes["lugu"]
    assert one["agency_responsible"] is None and one["description"] is None
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert re.fullmatch(W3, one[name]) and one[name].endswith("+08:00"), (name, one[name])
    assert client.get(f"{BASE}/requests/{no}").json() == [one]

    root = xml(client.get(f"{BASE}/requests/{no}.xml"))
    assert root.tag == "service_requests" and [c.tag for c in root] == ["request"]
    assert [c.tag for c in root.find("request")] == REQUEST_FIELDS
    assert root.findtext("request/status") == "open" and root.findtext("request/service_request_id") == no
    assert root.find("request/lat").text is None

    spec_error(client.get(f"{BASE}/requests/XF-20200101-999999.json"), 404, "XF-20200101-999999")
    spec_error(client.get(f"{BASE}/requests/XF-20200101-999999.xml"), 404, fmt="xml")
    spec_error(client.get(f"{BASE}/requests/' OR 1=1 --.json"), 404)
    spec_error(client.get(f"{BASE}/requests/{no}.json", params={"jurisdiction_id": "sfgov.org"}), 404)


def test_petitions_of_other_channels_stay_invisible(client, codes, db):
    with db.transaction() as s:
        other, _ = cases.create_petition(s, actor=ADMIN, data=PetitionCreate(
            title="拖欠工资", content="老板拖欠工资。", channel="phone", area_code="430104", category=codes["housing"]))
    spec_error(client.get(f"{BASE}/requests/{other.tracking_no}.json"), 404)
    assert client.get(f"{BASE}/requests.json").json() == []
    assert client.get(f"{BASE}/requests.json", params={"service_request_id": other.tracking_no}).json() == []


def test_list_requests_with_filters(client, codes, db):
    housing = file(client, codes)["service_request_id"]
    labour = file(client, codes, service_code=codes["labour"])["service_request_id"]

    def ids(fmt="json", **params):
        r = client.get(f"{BASE}/requests.{fmt}", params=params)
        assert r.status_code == 200, r.text
        if fmt == "xml":
            return [e.findtext("service_request_id") for e in xml(r)]
        return [x["service_request_id"] for x in r.json()]

    assert ids() == [labour, housing] == ids("xml")
    assert ids(service_code=codes["housing"]) == [housing]
    assert ids(service_code=f"{codes['housing']},{codes['labour']}") == [labour, housing]
    assert ids(service_code=[codes["housing"], codes["labour"]]) == [labour, housing]
    assert ids(service_code=codes["urban"]) == []  # the first-level service is a service of its own
    assert ids(status="open") == [labour, housing] and ids(status="closed") == []
    assert ids(status="open,closed") == [labour, housing]
    now = utcnow()
    assert ids(start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1)).isoformat()) == [
        labour, housing]
    assert ids(start_date="2020-01-01T00:00:00Z", end_date="2020-02-01T00:00:00+08:00") == []
    assert ids(start_date="2020-01-01") == []  # the 90 days from then
    assert ids(end_date=(now + timedelta(days=1)).date().isoformat()) == [labour, housing]
    assert ids(service_request_id=f"{housing}, XF-20200101-000001", status="closed") == [housing]  # overrides the rest
    assert ids(service_request_id=housing.lower()) == [housing]

    for params, mentions in (({"status": "pending"}, "status"), ({"service_code": "99"}, "99"),
                             ({"start_date": "2020-01-01T00:00:00"}, "timezone"), ({"start_date": "yesterday"}, "w3"),
                             ({"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-06-01T00:00:00Z"}, "90 days"),
                             ({"start_date": "2020-02-01T00:00:00Z", "end_date": "2020-01-01T00:00:00Z"}, "before"),
                             ({"jurisdiction_id": "sfgov.org"}, "jurisdiction_id")):
        spec_error(client.get(f"{BASE}/requests.json", params=params), 400 if "jurisdiction_id" not in params else 404,
                   mentions)
    spec_error(client.get(f"{BASE}/requests.xml", params={"status": "pending"}), 400, fmt="xml")


def test_request_closed_in_the_workflow_shows_closed_with_the_reply(client, codes, db):
    no = file(client, codes)["service_request_id"]
    with db.transaction() as s:
        for change in (TransitionIn(action="accept"), TransitionIn(action="assign", unit="CS-HRSS")):
            cases.do_transition(s, tracking_no=no, change=change, actor=ADMIN)
    [assigned] = client.get(f"{BASE}/requests/{no}.json").json()
    assert (assigned["status"], assigned["status_notes"]) == ("open", "已交办 / Assigned")
    assert assigned["agency_responsible"] == "长沙市人力资源和社会保障局" and assigned["expected_datetime"]

    reply = "经核查，您的公租房申请已进入轮候第 3 位，预计下月分配。"
    with db.transaction() as s:
        for change in (TransitionIn(action="start"), TransitionIn(action="reply", text=reply),
                       TransitionIn(action="close", reason="satisfied")):
            cases.do_transition(s, tracking_no=no, change=change, actor=ADMIN)
        closed_at = cases.get_by_tracking_no(s, no).closed_at
    [closed] = client.get(f"{BASE}/requests/{no}.json").json()
    assert (closed["status"], closed["status_notes"]) == ("closed", reply)
    assert closed["agency_responsible"] == "长沙市人力资源和社会保障局" and closed["expected_datetime"] is None
    assert closed["updated_datetime"] == closed_at.astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")
    root = xml(client.get(f"{BASE}/requests/{no}.xml"))
    assert root.findtext("request/status") == "closed" and root.findtext("request/status_notes") == reply
    assert [x["service_request_id"] for x in client.get(f"{BASE}/requests.json", params={"status": "closed"}).json()] == [no]
    assert client.get(f"{BASE}/requests.json", params={"status": "open"}).json() == []


def test_withdrawn_request_is_closed_with_its_label(client, codes, db):
    no = file(client, codes)["service_request_id"]
    with db.transaction() as s:
        cases.do_transition(s, tracking_no=no, change=TransitionIn(action="withdraw", reason="已自行解决"), actor=ADMIN)
    [one] = client.get(f"{BASE}/requests/{no}.json").json()
    assert (one["status"], one["status_notes"]) == ("closed", "已撤回 / Withdrawn")


def test_tokens(client, codes):
    filed = file(client, codes)
    no, token = filed["service_request_id"], filed["token"]
    r = client.get(f"{BASE}/tokens/{token}.json")
    assert r.status_code == 200 and r.json() == [{"service_request_id": no, "token": token}]
    assert client.get(f"{BASE}/tokens/{token}").json() == r.json()
    root = xml(client.get(f"{BASE}/tokens/{token}.xml"))
    assert root.tag == "service_requests" and root.findtext("request/service_request_id") == no
    assert root.findtext("request/token") == token
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    spec_error(client.get(f"{BASE}/tokens/{forged}.json"), 404, "token")
    spec_error(client.get(f"{BASE}/tokens/XF-20200101-000001-{'0' * 24}.xml"), 404, fmt="xml")
    spec_error(client.get(f"{BASE}/tokens/１２３.json"), 404)


def test_no_personal_data_in_get_answers(client, codes, db):
    secret_text = "我叫张三，住在枫林三路 8 栋 302，身份证 11010519491231002X。" + DESCRIPTION
    no = file(client, codes, first_name="三", last_name="张", phone="13900001111", email="zhang.san@example.com",
              description=secret_text, address_string="岳麓区枫林三路 8 栋 302", media_url="https://img.example.com/me.jpg",
              device_id="device-42", account_id="acct-42")["service_request_id"]
    answers = [client.get(f"{BASE}/requests/{no}.{fmt}").text for fmt in ("json", "xml")]
    answers += [client.get(f"{BASE}/requests.{fmt}").text for fmt in ("json", "xml")]
    answers += [client.get(f"{BASE}/requests.json", params={"service_request_id": no}).text]
    for text in answers:
        assert no in text
        for private in ("张三", "13900001111", "zhang.san@example.com", "11010519491231002X", "枫林三路", "me.jpg",
                        "device-42", "acct-42", "query_code", "公租房一年多"):
            assert private not in text, (private, text[:300])


def test_unknown_paths_under_the_prefix_answer_in_spec_format(client):
    spec_error(client.get(f"{BASE}/nothing.json"), 404, "nothing.json")
    spec_error(client.get(f"{BASE}/nothing.xml"), 404, fmt="xml")
    assert "/open311/v2/requests.{fmt}" in client.get("/openapi.json").json()["paths"]
