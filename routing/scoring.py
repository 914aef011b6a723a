"""Score the units that could handle a petition and say why: duty list, jurisdiction, rules, similar cases."""

from __future__ import annotations

from dataclasses import dataclass, field

# Weights of each kind of evidence; a unit that matches all of them fully scores 1.0.
W_CATEGORY = 0.45
W_SUBCATEGORY = 0.1
W_AREA = {"street": 0.3, "district": 0.25, "city": 0.1}
W_SIMILAR = 0.15
# When the category is uncertain, who handled the most similar past cases says more.
W_SIMILAR_UNSURE = 0.25
FULL = W_CATEGORY + W_SUBCATEGORY + W_AREA["street"] + W_SIMILAR


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    name: str
    name_en: str | None
    level: str
    area_codes: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str  # keyword | category | area
    pattern: str
    unit_id: int
    weight: float


@dataclass(frozen=True)
class SimilarCase:
    petition_id: int
    tracking_no: str
    score: float
    unit_id: int | None


@dataclass
class Reason:
    kind: str
    zh: str
    en: str
    weight: float

    def as_dict(self) -> dict:
        """Return the reason as JSON-ready data."""
        return {"kind": self.kind, "text_zh": self.zh, "text_en": self.en, "weight": round(self.weight, 3)}


@dataclass
class Suggestion:
    unit: UnitInfo
    score: float = 0.0
    reasons: list[Reason] = field(default_factory=list)

    def add(self, reason: Reason) -> None:
        """Add evidence for this unit."""
        self.reasons.append(reason)
        self.score += reason.weight

    def as_dict(self) -> dict:
        """Return the suggestion as JSON-ready data."""
        return {"unit": self.unit.code, "name": self.unit.name, "name_en": self.unit.name_en,
                "score": round(min(1.0, self.score / FULL), 3), "reasons": [r.as_dict() for r in self.reasons]}


def _covers(unit: UnitInfo, area_code: str | None) -> str | None:
    """Return the level at which the unit's jurisdiction covers the area, or None."""
    if not area_code:
        return None
    best = None
    for code in unit.area_codes:
        if area_code.startswith(code.rstrip("0") if len(code) == 6 and code.endswith("00") else code):
            level = "street" if len(code) > 6 else ("city" if code.endswith("00") else "district")
            if best is None or list(W_AREA).index(level) < list(W_AREA).index(best):
                best = level
    return best


def score_units(*, units: list[UnitInfo], text: str, category: list[str] | None, category_confidence: float,
                area_code: str | None, area_label: str | None, rules: list[Rule], similar: list[SimilarCase],
                fallback_unit: str | None = None) -> list[Suggestion]:
    """Rank units by the evidence that each should handle this petition, best first."""
    by_id = {u.id: Suggestion(u) for u in units}
    first = category[0] if category else None
    path = "/".join(category[:2]) if category and len(category) > 1 else None
    for s in by_id.values():
        unit = s.unit
        level = _covers(unit, area_code)
        if area_code and level is None:
            continue  # the duty is right but the place is someone else's
        if first and first in unit.categories:
            s.add(Reason("category", f"职责清单包含「{first}」（分类置信度{category_confidence:.2f}）",
                         f"Duty list covers {first} (category confidence {category_confidence:.2f})",
                         W_CATEGORY * category_confidence))
        if path and path in unit.categories:
            s.add(Reason("category", f"职责清单包含「{path}」", f"Duty list covers {path}", W_SUBCATEGORY * category_confidence))
        if level and s.reasons:
            s.add(Reason("area", f"管辖范围包含{area_label or area_code}", f"Jurisdiction covers {area_label or area_code}",
                         W_AREA[level]))
    lowered = text.lower()
    for rule in rules:
        s = by_id.get(rule.unit_id)
        if s is None:
            continue
        hit = (rule.kind == "keyword" and rule.pattern.lower() in lowered) or \
              (rule.kind == "category" and category is not None and "/".join(category).startswith(rule.pattern)) or \
              (rule.kind == "area" and area_code is not None and area_code.startswith(rule.pattern))
        if hit:
            s.add(Reason("rule", f"规则「{rule.name}」：{rule.pattern}", f"Rule \"{rule.name}\": {rule.pattern}", rule.weight))
    handled = [c for c in similar if c.unit_id in by_id]
    total = sum(c.score for c in handled) or 1.0
    w_similar = W_SIMILAR + W_SIMILAR_UNSURE * (1.0 - (category_confidence if category else 0.0))
    for unit_id in {c.unit_id for c in handled}:
        cases = [c for c in handled if c.unit_id == unit_id]
        share = sum(c.score for c in cases) / total
        examples = "、".join(c.tracking_no for c in cases[:2])
        by_id[unit_id].add(Reason("similar", f"{len(cases)}件相似案件由该单位办理（如{examples}）",
                                  f"{len(cases)} similar past case(s) handled by this unit (e.g. {examples.replace('、', ', ')})",
                                  w_similar * share))
    ranked = sorted((s for s in by_id.values() if s.reasons), key=lambda s: (-s.score, s.unit.level != "street",
                                                                             s.unit.code))
    if not ranked and fallback_unit:
        office = next((s for s in by_id.values() if s.unit.code == fallback_unit), None)
        if office is not None:
            office.add(Reason("fallback", "没有单位的职责清单或管辖范围匹配，交信访工作机构分办",
                              "No duty list or jurisdiction matched; the petition office will triage it", 0.0))
            ranked = [office]
    return ranked


def decide(suggestions: list[Suggestion], *, threshold: float, margin: float) -> bool:
    """Tell whether the best suggestion is sure enough to assign without a person."""
    if not suggestions:
        return False
    top = min(1.0, suggestions[0].score / FULL)
    second = min(1.0, suggestions[1].score / FULL) if len(suggestions) > 1 else 0.0
    return top >= threshold and top - second >= margin
