"""The admin pages: units and duty lists, routing rules, lexicon, templates, users; on both databases."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from admin_web.pages import admin as admin_pages
from admin_web.web import LANG_COOKIE
from cases import catalog
from cases.enums import Status
from cases.handling import service as handling
from cases.models import Unit
from core.accounts import Actor, Role, User, get_by_username
from risk import lexicon
from risk.models import SensitiveTerm
from routing import service as routing
from routing.models import RoutingRule
from tests.admin_web.conftest import PASSWORD, sign_in
from tests.cases.helpers import drive

OTHER_ROLES = ["agent", "handler", "triage", "supervisor", "analyst"]
NEW_UNIT = {"code": "YL-TEST", "name": "岳麓区测试局", "name_en": "Yuelu Test Bureau", "level": "district",
            "parent": "YL-GOV", "area_codes": "430104", "categories": "城乡建设, 环境保护/噪声污染",
            "description": "负责测试事项：噪声、施工扰民。", "description_en": "Noise and construction nuisance.",
            "active": "on"}


@pytest.fixture
def scratch_units(db):
    """Remove the units a test created and restore YL-GOV's duty list (the units table outlives a test)."""
    with db.transaction() as s:
        yl = catalog.get_unit_by_code(s, "YL-GOV")
        saved = {"name": yl.name, "name_en": yl.name_en, "level": yl.level, "area_codes": list(yl.area_codes),
                 "categories": list(yl.categories), "description": yl.description, "description_en": yl.description_en}
        before = {u.code for u in catalog.list_units(s, active_only=False)}
    yield
    with db.transaction() as s:
        catalog.upsert_unit(s, code="YL-GOV", **saved)
        catalog.set_unit_active(s, code="YL-GOV", active=True)
        extra = [u.id for u in catalog.list_units(s, active_only=False) if u.code not in before]
        if extra:
            s.execute(delete(RoutingRule).where(RoutingRule.unit_id.in_(extra)))
            s.execute(delete(User).where(User.unit_id.in_(extra)))
            s.execute(delete(Unit).where(Unit.id.in_(extra)))


def _paths() -> list[tuple[str, str]]:
    values = {"code": "CS-HRSS", "rule_id": "1", "term_id": "1", "template_id": "1", "username": "agent1"}
    found = []
    for route in admin_pages.router.routes:
        path = "/console" + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path)
        found += [(method, path) for method in sorted(route.methods)]
    return found


def test_every_admin_route_is_refused_to_other_roles(app, staff, as_role):
    paths = _paths()
    sections = {p.split("/")[3] for _, p in paths if p.count("/") >= 3}
    assert {"units", "rules", "lexicon", "templates", "users"} <= sections and len(paths) >= 20
    for role in OTHER_ROLES:
        client = as_role(role)
        for method, path in paths:
            r = client.get(path) if method == "GET" else client.post(path, {"name": "x", "term": "x", "role": "admin"})
            assert r.status_code == 403, (role, method, path, r.status_code)
            assert "无权访问" in r.text
    admin = as_role("admin")
    for method, path in paths:
        if method == "GET":
            assert admin.get(path).status_code in (200, 404), path
    assert admin.get("/console/admin").status_code == 200


def test_csrf_is_required(app, staff, as_role, db):
    admin = as_role("admin")
    r = admin.client.post("/console/admin/lexicon", data={"term": "跳楼", "klass": "self_harm", "weight": "3"})
    assert r.status_code == 403 and "请求无效" in r.text
    r = admin.client.post("/console/admin/users/agent1", data={"csrf": "forged", "role": "agent", "display_name": "x"})
    assert r.status_code == 403
    with db.transaction() as s:
        assert lexicon.list_terms(s) == []
        assert get_by_username(s, "agent1").active


def test_index_links_every_section(app, staff, as_role):
    page = as_role("admin").get("/console/admin")
    assert page.status_code == 200
    for href in ("/console/admin/units", "/console/admin/rules", "/console/admin/lexicon", "/console/admin/templates",
                 "/console/admin/users"):
        assert f'href="{href}"' in page.text


def test_create_and_edit_a_unit_duty_list(app, staff, as_role, db, scratch_units):
    admin = as_role("admin")
    form = admin.get("/console/admin/units/new")
    assert form.status_code == 200 and 'name="description"' in form.text
    r = admin.post("/console/admin/units/new", NEW_UNIT)
    assert r.status_code == 303 and r.headers["location"] == "/console/admin/units/YL-TEST?done=unit-created"
    assert "单位已创建" in admin.get(r.headers["location"]).text
    with db.transaction() as s:
        unit = catalog.get_unit_by_code(s, "YL-TEST")
        assert unit.name == "岳麓区测试局" and unit.level == "district" and unit.parent.code == "YL-GOV"
        assert unit.area_codes == ["430104"] and unit.categories == ["城乡建设", "环境保护/噪声污染"]
        assert unit.description == "负责测试事项：噪声、施工扰民。" and unit.active
        unit_id = unit.id
    # The same code again is refused.
    r = admin.post("/console/admin/units/new", NEW_UNIT)
    assert r.status_code == 422 and "已存在" in r.text

    edited = dict(NEW_UNIT, description="负责噪声污染投诉的调查与处理。", categories="环境保护", active="")
    r = admin.post("/console/admin/units/YL-TEST", edited)
    assert r.status_code == 303 and r.headers["location"].endswith("done=unit-saved")
    with db.transaction() as s:
        unit = catalog.get_unit_by_code(s, "YL-TEST")
        assert unit.id == unit_id and unit.description == "负责噪声污染投诉的调查与处理。"
        assert unit.categories == ["环境保护"] and not unit.active
        assert "YL-TEST" not in {u.code for u in catalog.list_units(s)}  # inactive: no longer routed to
    listing = admin.get("/console/admin/units")
    assert listing.status_code == 200 and 'data-unit="YL-TEST"' in listing.text and "停用" in listing.text


def test_editing_a_duty_list_keeps_existing_petitions(app, staff, as_role, db, scratch_units):
    with db.transaction() as s:
        petition = drive(s, Status.ASSIGNED)
        tracking_no, lead_id = petition.tracking_no, petition.lead_unit_id
    admin = as_role("admin")
    page = admin.get("/console/admin/units/YL-GOV")
    assert page.status_code == 200 and "岳麓区人民政府" in page.text
    r = admin.post("/console/admin/units/YL-GOV", {"name": "岳麓区人民政府", "level": "district", "area_codes": "430104",
                                                   "categories": "城乡建设，民政", "description": "新的职责清单", "active": "on"})
    assert r.status_code == 303
    with db.transaction() as s:
        from cases import service as cases

        unit = catalog.get_unit_by_code(s, "YL-GOV")
        assert unit.id == lead_id and unit.categories == ["城乡建设", "民政"] and unit.description == "新的职责清单"
        assert cases.get_by_tracking_no(s, tracking_no).lead_unit.code == "YL-GOV"
        # The unit's handler still sees the petition.
        assert cases.access(s, tracking_no, Actor.of(get_by_username(s, "yuelu1"))).lead_unit_id == lead_id


@pytest.mark.parametrize("field,value,message", [
    ("area_codes", "430104, 999999", "未知的区划代码：999999"),
    ("categories", "城乡建设, 不存在的分类", "未知的分类：不存在的分类"),
    ("parent", "YL-TEST", "上级单位不能是本单位"),
])
def test_invalid_unit_input_is_refused_without_change(app, staff, as_role, db, scratch_units, field, value, message):
    admin = as_role("admin")
    assert admin.post("/console/admin/units/new", NEW_UNIT).status_code == 303
    bad = dict(NEW_UNIT, description="不应保存", **{field: value})
    r = admin.post("/console/admin/units/YL-TEST", bad)
    assert r.status_code == 422 and message in r.text
    # What was typed comes back in the form.
    assert "不应保存" in r.text and value.split(",")[-1].strip() in r.text
    with db.transaction() as s:
        unit = catalog.get_unit_by_code(s, "YL-TEST")
        assert unit.description == "负责测试事项：噪声、施工扰民。" and unit.area_codes == ["430104"]
        assert unit.parent.code == "YL-GOV"
    # The same message in English for a console set to English.
    admin.client.cookies.set(LANG_COOKIE, "en", path="/console")
    r = admin.post("/console/admin/units/new", dict(NEW_UNIT, code="YL-TEST2", area_codes="12345"))
    assert r.status_code == 422 and "Unknown area codes: 12345" in r.text and "Please fix the following" in r.text
    assert 'value="YL-TEST2"' in r.text
    with db.transaction() as s:
        assert catalog.get_unit_by_code(s, "YL-TEST2") is None


def test_html_in_names_is_escaped(app, staff, as_role, db, scratch_units):
    admin = as_role("admin")
    evil = "<script>alert(1)</script>"
    assert admin.post("/console/admin/units/new", dict(NEW_UNIT, name=evil + "局")).status_code == 303
    assert admin.post("/console/admin/lexicon", {"term": "<b>跳楼</b>", "klass": "self_harm", "weight": "3"}).status_code == 303
    for url in ("/console/admin/units", "/console/admin/units/YL-TEST", "/console/admin/lexicon"):
        text = admin.get(url).text
        assert "<script>alert(1)" not in text and "<b>跳楼" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;局" in admin.get("/console/admin/units").text
    assert "&lt;b&gt;跳楼&lt;/b&gt;" in admin.get("/console/admin/lexicon").text


def test_rule_create_edit_delete_round_trip(app, staff, as_role, db):
    admin = as_role("admin")
    r = admin.post("/console/admin/rules", {"name": "欠薪转人社", "kind": "keyword", "pattern": "拖欠工资", "unit": "CS-HRSS",
                                            "weight": "0.8"})
    assert r.status_code == 303 and r.headers["location"] == "/console/admin/rules?done=rule-created"
    with db.transaction() as s:
        [(rule, unit)] = routing.list_rules(s)
        assert (rule.name, rule.kind, rule.pattern, unit.code, rule.weight, rule.active) == \
            ("欠薪转人社", "keyword", "拖欠工资", "CS-HRSS", 0.8, True)
        assert rule.created_by == "admin1"
        rule_id = rule.id
    page = admin.get("/console/admin/rules?done=rule-created")
    assert "分办规则已添加" in page.text and "拖欠工资" in page.text

    r = admin.post(f"/console/admin/rules/{rule_id}", {"name": "岳麓区域", "kind": "area", "pattern": "430104",
                                                       "unit": "YL-GOV", "weight": "1.5"})
    assert r.status_code == 303
    with db.transaction() as s:
        [(rule, unit)] = routing.list_rules(s)
        assert (rule.kind, rule.pattern, unit.code, rule.weight) == ("area", "430104", "YL-GOV", 1.5)

    # Bad input is refused, the form keeps what was typed, and nothing changes.
    for data, message in [({"kind": "area", "pattern": "999999"}, "未知的区划代码"),
                          ({"kind": "category", "pattern": "没有这个分类"}, "未知的分类"),
                          ({"weight": "5"}, "权重须在 0 到 2 之间"), ({"unit": "NOPE"}, "单位 NOPE 不存在")]:
        form = {"name": "改坏", "kind": "keyword", "pattern": "拖欠", "unit": "CS-HRSS", "weight": "1", **data}
        r = admin.post(f"/console/admin/rules/{rule_id}", form)
        assert r.status_code == 422 and message in r.text and 'value="改坏"' in r.text, data
    r = admin.post("/console/admin/rules", {"name": "", "kind": "keyword", "pattern": "x", "unit": "CS-HRSS", "weight": "1"})
    assert r.status_code == 422 and "请填写规则名称" in r.text
    with db.transaction() as s:
        [(rule, _)] = routing.list_rules(s)
        assert rule.name == "岳麓区域"

    r = admin.post(f"/console/admin/rules/{rule_id}/delete")
    assert r.status_code == 303
    with db.transaction() as s:
        [(rule, _)] = routing.list_rules(s)
        assert rule.active is False
        assert routing._rules(s) == []  # the router no longer uses it
    assert admin.post("/console/admin/rules/99999/delete").status_code == 404


def test_lexicon_add_duplicate_invalid_and_edit(app, staff, as_role, db):
    admin = as_role("admin")
    r = admin.post("/console/admin/lexicon", {"term": "  跳楼 ", "klass": "self_harm", "weight": "3"})
    assert r.status_code == 303
    r = admin.post("/console/admin/lexicon", {"term": "跳楼", "klass": "extreme", "weight": "2"})
    assert r.status_code == 409 and "已存在" in r.text
    r = admin.post("/console/admin/lexicon", {"term": "爆炸", "klass": "bombs", "weight": "2"})
    assert r.status_code == 422 and "未知类别" in r.text and 'value="爆炸"' in r.text
    r = admin.post("/console/admin/lexicon", {"term": "爆炸", "klass": "violence", "weight": "11"})
    assert r.status_code == 422 and "权重须在" in r.text
    r = admin.post("/console/admin/lexicon", {"term": "x" * 101, "klass": "violence", "weight": "1"})
    assert r.status_code == 422 and "100" in r.text
    with db.transaction() as s:
        [term] = lexicon.list_terms(s)
        assert (term.term, term.klass, term.weight, term.active, term.created_by) == ("跳楼", "self_harm", 3.0, True, "admin1")
        term_id = term.id

    assert admin.post(f"/console/admin/lexicon/{term_id}/active", {"active": ""}).status_code == 303
    with db.transaction() as s:
        assert s.get(SensitiveTerm, term_id).active is False
    r = admin.post(f"/console/admin/lexicon/{term_id}", {"term": "跳楼轻生", "klass": "self_harm", "weight": "4.5",
                                                          "active": "on"})
    assert r.status_code == 303
    with db.transaction() as s:
        row = s.get(SensitiveTerm, term_id)
        assert (row.term, row.weight, row.active) == ("跳楼轻生", 4.5, True)
    # The class filter shows only that class.
    admin.post("/console/admin/lexicon", {"term": "讨薪", "klass": "wages", "weight": "1"})
    filtered = admin.get("/console/admin/lexicon?klass=wages").text
    assert "讨薪" in filtered and "跳楼轻生" not in filtered
    assert admin.post(f"/console/admin/lexicon/{term_id}/delete").status_code == 303
    with db.transaction() as s:
        assert [t.term for t in lexicon.list_terms(s)] == ["讨薪"]


def test_lexicon_bulk_import_keeps_good_lines(app, staff, as_role, db):
    admin = as_role("admin")
    admin.post("/console/admin/lexicon", {"term": "上访", "klass": "escalation", "weight": "1"})
    lines = "拉横幅,collective,2\n讨薪,wages\n爆炸,bombs,3\n上访,escalation,1\n\n媒体曝光,media,0.5\n拉横幅,collective,2"
    r = admin.post("/console/admin/lexicon/import", {"lines": lines})
    assert r.status_code == 200
    problems = r.text[r.text.index('data-testid="import-problems"'):r.text.index("</div>", r.text.index("import-problems"))]
    assert "已导入 3 条" in problems
    assert "第 3 行" in problems and "未知类别" in problems
    assert "第 4 行" in problems and "已存在" in problems
    assert "第 7 行" in problems and "重复" in problems
    assert "第 1 行" not in problems
    # Only the lines to fix go back into the box.
    box = re.search(r'<textarea name="lines"[^>]*>(.*?)</textarea>', r.text, re.S).group(1)
    assert box.splitlines() == ["爆炸,bombs,3", "上访,escalation,1", "拉横幅,collective,2"]
    with db.transaction() as s:
        terms = {t.term: (t.klass, t.weight) for t in lexicon.list_terms(s)}
    assert terms == {"上访": ("escalation", 1.0), "拉横幅": ("collective", 2.0), "讨薪": ("wages", 1.0),
                     "媒体曝光": ("media", 0.5)}
    r = admin.post("/console/admin/lexicon/import", {"lines": "只有一列"})
    assert r.status_code == 422 and "词条,类别,权重" in r.text
    r = admin.post("/console/admin/lexicon/import", {"lines": "堵路,collective,3"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=terms-imported")


def test_template_create_and_delete(app, staff, as_role, db):
    admin = as_role("admin")
    r = admin.post("/console/admin/templates", {"kind": "reply", "name": "工资答复", "language": "zh",
                                                "text": "经核查，已督促用人单位支付工资。"})
    assert r.status_code == 303
    r = admin.post("/console/admin/templates", {"kind": "canned", "name": "", "language": "zh", "text": "您好"})
    assert r.status_code == 422 and "请填写模板名称" in r.text and "您好" in r.text
    r = admin.post("/console/admin/templates", {"kind": "memo", "name": "x", "language": "zh", "text": "y"})
    assert r.status_code == 422 and "请选择模板类型" in r.text
    with db.transaction() as s:
        [row] = handling.list_templates(s, kind="reply")
        assert row.text == "经核查，已督促用人单位支付工资。" and row.created_by == "admin1"
        assert handling.list_templates(s, kind="canned") == []
        template_id = row.id
    assert "工资答复" in admin.get("/console/admin/templates").text
    assert admin.post(f"/console/admin/templates/{template_id}/delete").status_code == 303
    with db.transaction() as s:
        assert handling.list_templates(s, kind="reply") == []
    assert admin.post(f"/console/admin/templates/{template_id}/delete").status_code == 404


def test_user_create_requires_a_unit_for_handlers(app, staff, as_role, db):
    admin = as_role("admin")
    data = {"username": "newhandler", "display_name": "新承办人", "role": "handler", "unit": "", "password": "a-long-pass-2026"}
    r = admin.post("/console/admin/users/new", data)
    assert r.status_code == 422 and "承办人必须绑定一个单位" in r.text and 'value="newhandler"' in r.text
    r = admin.post("/console/admin/users/new", dict(data, unit="CS-HRSS", password="short"))
    assert r.status_code == 422 and "密码至少 10 个字符" in r.text
    r = admin.post("/console/admin/users/new", dict(data, username="agent1", unit="CS-HRSS"))
    assert r.status_code == 422 and "已存在" in r.text
    with db.transaction() as s:
        assert get_by_username(s, "newhandler") is None
    r = admin.post("/console/admin/users/new", dict(data, unit="CS-HRSS"))
    assert r.status_code == 303 and r.headers["location"] == "/console/admin/users/newhandler?done=user-created"
    with db.transaction() as s:
        user = get_by_username(s, "newhandler")
        assert user.role == "handler" and user.unit_id == catalog.get_unit_by_code(s, "CS-HRSS").id
        assert user.display_name == "新承办人" and user.active
    c = sign_in(app, "newhandler", "a-long-pass-2026")
    assert c.get("/console/account").status_code == 200
    listing = admin.get("/console/admin/users").text
    assert 'data-user="newhandler"' in listing and "CS-HRSS" in listing


def test_role_change_and_deactivation(app, staff, as_role, db):
    admin = as_role("admin")
    agent = sign_in(app, "agent1")
    r = admin.post("/console/admin/users/agent1", {"display_name": "坐席一", "role": "triage", "unit": "", "active": "on"})
    assert r.status_code == 303
    with db.transaction() as s:
        user = get_by_username(s, "agent1")
        assert (user.role, user.display_name, user.active) == ("triage", "坐席一", True)
    # The new role applies to the open session at once.
    assert agent.get("/console/admin").status_code == 403
    r = admin.post("/console/admin/users/agent1", {"display_name": "坐席一", "role": "handler", "unit": ""})
    assert r.status_code == 422 and "承办人必须绑定一个单位" in r.text
    r = admin.post("/console/admin/users/agent1", {"display_name": "坐席一", "role": "triage", "unit": ""})
    assert r.status_code == 303
    with db.transaction() as s:
        assert get_by_username(s, "agent1").active is False
    r = agent.get("/console/account")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    bad = agent.client.post("/console/login", data={"username": "agent1", "password": PASSWORD})
    assert bad.status_code == 401


def test_reset_password_ends_sessions(app, staff, as_role, db):
    admin = as_role("admin")
    old = sign_in(app, "hrss1")
    r = admin.post("/console/admin/users/hrss1/password", {"password": "short"})
    assert r.status_code == 422 and "密码至少 10 个字符" in r.text
    assert old.get("/console/account").status_code == 200
    r = admin.post("/console/admin/users/hrss1/password", {"password": "fresh-password-2026"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=password-reset")
    assert old.get("/console/account").status_code == 303
    assert old.client.post("/console/login", data={"username": "hrss1", "password": PASSWORD}).status_code == 401
    assert sign_in(app, "hrss1", "fresh-password-2026").get("/console/account").status_code == 200


def test_admin_cannot_demote_or_deactivate_themself(app, staff, as_role, db):
    admin = as_role("admin")
    page = admin.get("/console/admin/users/admin1")
    assert page.status_code == 200 and "不能降低角色或停用" in page.text
    r = admin.post("/console/admin/users/admin1", {"display_name": "admin1", "role": "supervisor", "unit": "", "active": "on"})
    assert r.status_code == 422 and "不能降低自己的角色或停用自己的账户" in r.text
    r = admin.post("/console/admin/users/admin1", {"display_name": "admin1", "role": "admin", "unit": ""})
    assert r.status_code == 422 and "不能降低自己的角色或停用自己的账户" in r.text
    r = admin.post("/console/admin/users/admin1/password", {"password": "another-pass-2026"})
    assert r.status_code == 422 and "账户" in r.text
    with db.transaction() as s:
        user = get_by_username(s, "admin1")
        assert user.role == "admin" and user.active
    assert admin.get("/console/admin").status_code == 200
    # The service refuses it too, whoever calls it.
    from core.accounts import AccountError, update_user

    with db.transaction() as s, pytest.raises(AccountError):
        update_user(s, username="admin1", role="admin", unit_id=None, active=False, display_name=None,
                    actor=Actor("admin1", Role.ADMIN))


def test_lexicon_service_rules(db):
    actor = Actor("admin-test", Role.ADMIN)
    with db.transaction() as s:
        row = lexicon.create_term(s, term=" Riot ", klass="collective", weight="2", actor=actor)
        assert row.term == "Riot"
        with pytest.raises(lexicon.LexiconError) as err:
            lexicon.create_term(s, term="riot", klass="collective", weight=1, actor=actor)
        assert err.value.status == 409
        for bad in ({"term": ""}, {"klass": "x"}, {"weight": "0.05"}, {"weight": "nan"}, {"weight": "abc"}):
            with pytest.raises(lexicon.LexiconError):
                lexicon.create_term(s, **{"term": "ok", "klass": "other", "weight": 1, **bad}, actor=actor)
        assert s.scalar(select(SensitiveTerm.term).where(SensitiveTerm.term == "ok")) is None
