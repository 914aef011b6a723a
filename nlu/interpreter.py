"""One call from raw message to facts: normalised text, language, intent, entities and risk cues.

Risk cues are high-precision phrases only, in Chinese and English. They do not understand negation
or reported speech: "我不会自杀" and "新闻说有人跳楼" are flagged too. That errs on the side of a
person looking at the conversation, which is what a flag leads to; anything subtler belongs to the
risk module's scoring, not here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

from nlu.areas import AreaIndex
from nlu.entities import Entity, extract
from nlu.intents import IntentClassifier
from nlu.normalize import detect_language, normalize

_RISK: list[tuple[str, re.Pattern]] = [
    # Threats to others come first: 同归于尽 threatens both, and the others are the more urgent.
    ("violence", re.compile(
        r"同归于尽|杀了(?:他|她|你|他们|你们|那个|这个|全家)|(?<!变相)杀人(?!犯|凶手|案|偿命)|砍死|捅死|弄死(?:他|她|你|他们)|炸了(?:他|你|政府|你们|这)|炸掉|炸死|"
        r"炸药|报复社会|放火烧|一把火烧了|烧了(?:他|你|政府)|血洗|拿刀|"
        r"\bkill (?:him|her|them|you|everyone|my boss|the)\b|\bblow (?:it |them |the \w+ )?up\b|\bbomb\b|"
        r"\bshoot (?:him|her|them|up)\b|"
        r"\bburn (?:it|the \w+|their \w+) down\b|\brevenge on society\b|\bmurder\b", re.IGNORECASE)),
    ("self_harm", re.compile(
        r"(?<!慢性)自杀|不想活了?|活不下去|活着没意思|跳楼(?!价)|跳河|跳江|喝农药|喝药|吃安眠药|割腕|上吊|寻死|轻生|一死了之|死给(?:你们|他们)看|"
        r"\bkill myself\b|\bend my (?:own )?life\b|\bsuicid|\bwant to die\b|\bdon'?t want to live\b|\btake my own life\b|"
        r"\bhurt myself\b|\bjump off (?:the|a) (?:building|bridge|roof)\b", re.IGNORECASE)),
]


def risk_cue(text: str) -> str | None:
    """Return "violence" or "self_harm" when text carries such a cue phrase, else None."""
    for kind, pattern in _RISK:
        if pattern.search(text):
            return kind
    return None


@dataclass(frozen=True)
class Parse:
    """What one message says, over its normalised text."""

    text: str
    language: str
    intent: str
    confidence: float
    ranking: list[tuple[str, float]]
    entities: list[Entity]
    risk: str | None

    def first(self, type_: str) -> Entity | None:
        """Return the first entity of this type, or None."""
        return next((e for e in self.entities if e.type == type_), None)

    def all(self, type_: str) -> list[Entity]:
        """Return every entity of this type, in text order."""
        return [e for e in self.entities if e.type == type_]


class Interpreter:
    """Normalise, classify, extract and flag one message at a time."""

    def __init__(self, classifier: IntentClassifier | None = None):
        self.classifier = classifier or IntentClassifier.from_yaml()

    def parse(self, text: str, *, areas: AreaIndex | None = None, today: date | None = None) -> Parse:
        """Return what text says: its intent, entities and risk, over its normalised form."""
        clean = normalize(text)
        intent, confidence, ranking = self.classifier.predict(clean)
        return Parse(text=clean, language=detect_language(clean), intent=intent, confidence=confidence, ranking=ranking,
                     entities=extract(clean, areas=areas, today=today), risk=risk_cue(clean))


@functools.lru_cache
def default_interpreter() -> Interpreter:
    """Return the process-wide interpreter, trained on the packaged data the first time."""
    return Interpreter()
