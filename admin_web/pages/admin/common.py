"""Shared by the admin pages: the router, the admin-only dependency, labels, flash messages and form checks."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from admin_web.web import Console, render, require
from cases.enums import AreaLevel
from core.accounts import Role
from risk import lexicon

# One router that every admin module registers on as it is imported. Not a router per module joined with include_router():
# an included router stays one opaque entry in `routes`, and the role and CSRF sweeps list `router.routes` as APIRoutes.
router = APIRouter()
Admin = Annotated[Console, Depends(require(Role.ADMIN))]

LEVEL_LABELS: dict[str, tuple[str, str]] = {
    AreaLevel.PROVINCE: ("省级", "Province"), AreaLevel.CITY: ("市级", "City"),
    AreaLevel.DISTRICT: ("区县级", "District"), AreaLevel.STREET: ("街道乡镇", "Street"),
}
RULE_KINDS: dict[str, tuple[str, str]] = {
    "keyword": ("关键词", "Keyword"), "category": ("分类", "Category"), "area": ("区域", "Area"),
}
TEMPLATE_KINDS: dict[str, tuple[str, str]] = {
    "reply": ("答复模板", "Reply templates"), "canned": ("坐席快捷回复", "Canned responses"),
}
# Messages shown after a redirect, chosen by a key in the query string (never text from the request).
FLASH: dict[str, tuple[str, str]] = {
    "unit-created": ("单位已创建", "Unit created"), "unit-saved": ("单位已保存", "Unit saved"),
    "rule-created": ("分办规则已添加", "Routing rule added"), "rule-saved": ("分办规则已保存", "Routing rule saved"),
    "rule-deleted": ("分办规则已删除（停用留档）", "Routing rule deleted (switched off and kept for the record)"),
    "term-created": ("敏感词已添加", "Term added"), "term-saved": ("敏感词已保存", "Term saved"),
    "term-on": ("敏感词已启用", "Term switched on"), "term-off": ("敏感词已停用", "Term switched off"),
    "term-deleted": ("敏感词已删除", "Term deleted"), "terms-imported": ("批量导入完成", "Import done"),
    "template-created": ("模板已添加", "Template added"), "template-deleted": ("模板已删除", "Template deleted"),
    "user-created": ("用户已创建", "User created"), "user-saved": ("用户已保存", "User saved"),
    "password-reset": ("密码已重置，该用户的所有会话已结束", "Password reset; all of the user's sessions have ended"),
}
Text = Annotated[str, Form()]


class FormError(Exception):
    """Input a form cannot take, with every problem said in Chinese and English."""

    def __init__(self, *problems: tuple[str, str]):
        super().__init__("; ".join(en for _, en in problems))
        self.problems = list(problems)


def _check(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FormError(*problems)


def _page(request: Request, template: str, console: Console, status_code: int = 200, *,
          problems: list[tuple[str, str]] | None = None, **context):
    done = FLASH.get(request.query_params.get("done", ""))
    flash = (done[1] if console.lang == "en" else done[0]) if done else None
    return render(request, template, console, status_code=status_code, flash=flash, problems=problems or [],
                  level_labels=LEVEL_LABELS, rule_kinds=RULE_KINDS, classes=lexicon.CLASSES,
                  template_kinds=TEMPLATE_KINDS, **context)


def _done(url: str, key: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}done={key}", status_code=303)


def _problems(exc: Exception, zh: str = "无法保存：", en: str = "Cannot save: ") -> list[tuple[str, str]]:
    """Return a form's problems, or a service's refusal as one problem prefixed by what could not be done."""
    return exc.problems if isinstance(exc, FormError) else [(zh + str(exc), en + str(exc))]


def _not_found(request: Request, console: Console, zh: str, en: str):
    return render(request, "error.html", console, status_code=404, heading=("未找到", "Not found"), detail=(zh, en))


def _length(value: str, what: tuple[str, str], low: int, high: int, problems: list) -> str:
    value = (value or "").strip()
    if not low <= len(value) <= high:
        if low and not value:
            problems.append((f"请填写{what[0]}", f"{what[1]} is required"))
        else:
            problems.append((f"{what[0]}不能超过 {high} 个字符", f"{what[1]} must be at most {high} characters"))
    return value


def _float(value: str, what: tuple[str, str], low: float, high: float, problems: list) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        problems.append((f"{what[0]}须为数字", f"{what[1]} must be a number"))
        return None
    if math.isnan(number) or not low <= number <= high:
        problems.append((f"{what[0]}须在 {low:g} 到 {high:g} 之间", f"{what[1]} must be between {low:g} and {high:g}"))
        return None
    return number


def _checked(value: str) -> bool:
    return value in ("on", "1", "true", "yes")
