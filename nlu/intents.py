"""What the citizen wants from one message: rules for the formulaic ones, a linear classifier for the rest.

Short formulaic messages (转人工, 谢谢, yes) are matched by anchored rules, which are exact where a
classifier trained on a few hundred examples is not. Everything else goes to a linear SVM over TF-IDF
character 1–3-grams (Chinese has no spaces) and word 1–2-grams (English), whose margins become
probabilities through a softmax with a temperature fitted on held-out folds. The model trains in a
fraction of a second when it is loaded, so no artefact has to be built or shipped.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from core.metrics import timed_model
from nlu.normalize import detect_language, normalize

INTENTS = ("greet", "goodbye", "thanks", "help", "affirm", "deny", "cancel", "restart", "switch_language",
           "human_handoff", "query_status", "supplement", "feedback_satisfied", "feedback_unsatisfied", "request_review",
           "file_petition", "anonymous", "out_of_scope", "inform")
DEFAULT_DATA = Path(__file__).parent / "data" / "nlu.yml"
LONG_MESSAGE = 25
LONG_WORDS = 12
RULE_CONFIDENCE = 0.97
# A long message is a description unless it clearly asks for one of these.
_LONG_KEEPS = {"query_status", "human_handoff", "supplement", "feedback_satisfied", "feedback_unsatisfied", "request_review",
               "file_petition", "inform"}

# Rasa entity annotations: [text](entity), [text](entity:value), [text]{"entity": ...}.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_TRACKING = re.compile(r"xf[-_ ]?\d{8}[-_ ]?\d{6}", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_PIECES = re.compile(r"[\s,.!?;:~，。！？；：、～]+")
_WORDS = re.compile(r"[A-Za-z']+")
_LATIN_TOKEN = re.compile(r"[a-z][a-z']*")
_COMBINED_ORDER = ("human_handoff", "cancel", "restart", "deny", "goodbye", "affirm", "thanks", "greet")

_RULES: list[tuple[str, re.Pattern]] = [(intent, re.compile(pattern, re.IGNORECASE)) for intent, pattern in [
    ("human_handoff", r"(?:请|帮我|给我)?(?:转|转接|找|要|接)?人工(?:客服|服务|坐席)?(?:吧|谢谢)?|转接?人工.*|"
                      r"我要找?(?:真人|人工|工作人员)|"
                      r"(?:talk to |speak to )?(?:an? )?(?:agent|human|operator|real person)(?: please)?"),
    ("switch_language", r"(?:请|能)?(?:说|讲|用|切换到|切换成|换成|改成)?(?:中文|汉语|英文|英语)(?:吧|可以吗|好吗)?|"
                        r"(?:in |speak |switch to |change to )?(?:english|chinese)(?: please)?"),
    ("greet", r"(?:你好|您好|哈喽|嗨|在吗|在不在|有人吗|早上好|上午好|中午好|下午好|晚上好)(?:呀|啊|哈)?|"
              r"(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there)?"),
    ("thanks", r"(?:好的)?(?:谢谢|多谢|感谢|谢啦|非常感谢|太感谢了|辛苦了)(?:你|您|你们|啦|了)?|"
               r"(?:thanks|thank you|thx|ty|many thanks)(?: (?:very much|a lot|so much))?"),
    ("goodbye", r"(?:好的)?(?:再见|拜拜|拜|88)(?:了|啦)?|(?:ok )?(?:bye|bye bye|goodbye|see you)"),
    ("restart", r"重新开始|重来|从头开始|重新填写?|restart|start over|start again"),
    ("cancel", r"取消|算了|撤销|cancel|never ?mind|forget it"),
    ("help", r"帮助|菜单|怎么用|help|menu|\?|？"),
    ("anonymous", r"匿名|我要匿名|anonymous|anonymously"),
    ("query_status", r"(?:查询?|看看?)(?:一下)?(?:办理)?进度|进度查询|查询结果"),
    ("supplement", r"补充材料|补充证据|补充说明|追加材料"),
    ("request_review", r"(?:我要)?申请(?:复查|复核)"),
    ("feedback_satisfied", r"(?:非常|很|挺|基本)?满意(?:的)?"),
    ("feedback_unsatisfied", r"(?:非常|很)?不满意(?:的)?"),
    ("affirm", r"是|是的|是滴|对|对的|对啊|好|好的|好滴|嗯+|确认|确认提交|提交|没问题|可以|行|没错|正确|同意|"
               r"ok|okay|k|yes|yeah|yep|yup|y|sure|correct|right|confirm|submit|ok submit|that's right|go ahead"),
    ("deny", r"不是|不是的|不对|没有|没有了|没了|不用|不用了|不要|不需要|否|错了|不正确|"
             r"no|nope|n|nah|not really|no thanks|wrong|incorrect"),
]]


def _svm():
    from sklearn.svm import LinearSVC

    # A linear SVM trains in tens of milliseconds where a multinomial logistic regression takes
    # seconds on the same features; its margins are turned into probabilities by a fitted softmax.
    return LinearSVC(C=1.0)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _margins(model, matrix) -> np.ndarray:
    scores = model.decision_function(matrix)
    # With two classes scikit-learn gives one margin, positive for the second class.
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


def _fit_temperature(matrix, labels: np.ndarray) -> float:
    """Pick the softmax temperature that best predicts held-out folds (log loss), so confidences mean something."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(3, int(np.unique(labels, return_counts=True)[1].min()))
    if folds < 2:
        return 5.0
    held_scores, held_labels = [], []
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(matrix, labels):
        model = _svm().fit(matrix[train], labels[train])
        if len(model.classes_) != len(np.unique(labels)):
            continue
        held_scores.append(_margins(model, matrix[test]))
        held_labels.append(np.searchsorted(model.classes_, labels[test]))
    if not held_scores:
        return 5.0
    scores, truth = np.vstack(held_scores), np.concatenate(held_labels)
    candidates = np.arange(1.0, 15.5, 0.5)
    losses = [-np.log(_softmax(scores * t)[np.arange(len(truth)), truth] + 1e-12).mean() for t in candidates]
    return float(candidates[int(np.argmin(losses))])


def _strip_annotations(text: str) -> str:
    return _ANNOTATION.sub(r"\1", text)


def load_training_data(path: str | Path) -> dict[str, list[str]]:
    """Read a Rasa 3 NLU YAML file and return its examples by intent, annotations stripped."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    data: dict[str, list[str]] = {}
    for block in document.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue  # synonym, regex and lookup blocks do not train intents
        examples = block.get("examples") or []
        if isinstance(examples, str):
            lines = [line.strip() for line in examples.splitlines()]
            items = [line[1:].strip() for line in lines if line.startswith("-")]
        else:
            items = [item.get("text", "") if isinstance(item, dict) else str(item) for item in examples]
        cleaned = [_strip_annotations(item).strip() for item in items]
        data.setdefault(str(block["intent"]), []).extend(c for c in cleaned if c)
    return data


def _prepare(text: str) -> str:
    """Lower-case and generalise text: tracking numbers and digits stand for any such."""
    text = _TRACKING.sub(" xfno ", normalize(text).lower())
    return _DIGITS.sub("0", text)


def _rule_one(part: str) -> str | None:
    for intent, pattern in _RULES:
        if pattern.fullmatch(part):
            return intent
    return None


def _rule(text: str) -> str | None:
    core = _EDGE.sub("", text.lower()).strip()
    if not core and text.strip() in ("?", "？"):
        return "help"
    if not core or len(core) > 20:
        return None
    whole = _rule_one(core)
    if whole is not None:
        return whole
    # 不用了，谢谢 / 好的，再见: every piece formulaic, and the answer outranks the courtesy.
    found = [_rule_one(part) for part in _PIECES.split(core) if part]
    if len(found) < 2 or None in found:
        return None
    return min(found, key=lambda intent: _COMBINED_ORDER.index(intent) if intent in _COMBINED_ORDER else 0)


def is_long(text: str) -> bool:
    """Return whether text is long enough to be a description rather than a command."""
    if detect_language(text) == "en":
        return len(_WORDS.findall(text)) > LONG_WORDS
    return len(text) > LONG_MESSAGE


def _grams(text: str) -> Counter[str]:
    """Count character 1–3-grams of text and 1–2-grams of its Latin words, keyed by kind."""
    grams: Counter[str] = Counter()
    for n in (1, 2, 3):
        grams.update("c" + text[i:i + n] for i in range(len(text) - n + 1))
    words = _LATIN_TOKEN.findall(text)
    grams.update("w" + w for w in words)
    grams.update(f"w{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return grams


class _Tfidf:
    """Sublinear TF-IDF over _grams, each kind (characters, words) L2-normalised on its own.

    Written out instead of using scikit-learn's vectorisers: their per-call input checks cost more
    than the whole message takes to score, and the same function now serves training and prediction.
    """

    def __init__(self, texts: list[str]):
        counted = [_grams(t) for t in texts]
        df: Counter[str] = Counter()
        for grams in counted:
            df.update(grams.keys())
        self.vocabulary = {gram: i for i, gram in enumerate(sorted(df))}
        n = len(texts)
        self.idf = np.array([np.log((1 + n) / (1 + df[g])) + 1.0 for g in sorted(df)])
        self.is_word = np.array([g.startswith("w") for g in sorted(df)])
        self._counted = counted

    def vector(self, text: str, grams: Counter[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        grams = _grams(text) if grams is None else grams
        pairs = [(self.vocabulary[g], c) for g, c in grams.items() if g in self.vocabulary]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        index = np.array([i for i, _ in pairs], dtype=np.int64)
        values = (1.0 + np.log([c for _, c in pairs])) * self.idf[index]
        for block in (self.is_word[index], ~self.is_word[index]):
            norm = np.sqrt((values[block] ** 2).sum())
            if norm:
                values[block] /= norm
        return index, values

    def training_matrix(self):
        from scipy.sparse import csr_matrix

        rows, cols, data = [], [], []
        for row, grams in enumerate(self._counted):
            index, values = self.vector("", grams)
            rows.extend([row] * len(index))
            cols.extend(index.tolist())
            data.extend(values.tolist())
        self._counted = []
        return csr_matrix((data, (rows, cols)), shape=(row + 1, len(self.vocabulary)))


class IntentClassifier:
    """Rules first, then a TF-IDF + linear SVM model trained on the examples at load."""

    def __init__(self, examples: dict[str, list[str]]):
        texts, labels = [], []
        for intent, items in examples.items():
            for item in items:
                texts.append(_prepare(item))
                labels.append(intent)
        if len(set(labels)) < 2:
            raise ValueError("intent training data needs at least two intents")
        self.features = _Tfidf(texts)
        matrix = self.features.training_matrix()
        target = np.array(labels)
        self.temperature = _fit_temperature(matrix, target)
        model = _svm().fit(matrix, target)
        self.labels: list[str] = [str(label) for label in model.classes_]
        self._coef = np.asarray(model.coef_)
        self._intercept = np.asarray(model.intercept_)
        if len(self.labels) == 2:
            self._coef = np.vstack([-self._coef, self._coef])
            self._intercept = np.concatenate([-self._intercept, self._intercept])

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> IntentClassifier:
        """Train a classifier on a Rasa NLU YAML file (the packaged nlu/data/nlu.yml by default)."""
        return cls(load_training_data(path or DEFAULT_DATA))

    def _probabilities(self, text: str) -> list[tuple[str, float]]:
        index, values = self.features.vector(_prepare(text))
        scores = self._coef[:, index] @ values + self._intercept
        probs = _softmax(scores * self.temperature)
        order = np.argsort(-probs)
        return [(self.labels[i], float(probs[i])) for i in order]

    @timed_model("intent", "linear")
    def predict(self, text: str) -> tuple[str, float, list[tuple[str, float]]]:
        """Return the intent of text, its confidence and the top-3 ranking."""
        text = normalize(text)
        ranked = self._probabilities(text) if text else [("inform", 1.0)]
        rule = _rule(text)
        if rule is not None:
            rest = [(i, p) for i, p in ranked if i != rule]
            share = sum(p for _, p in rest) or 1.0
            ranked = [(rule, RULE_CONFIDENCE), *((i, p * (1 - RULE_CONFIDENCE) / share) for i, p in rest)]
        elif is_long(text) and ranked[0][0] not in _LONG_KEEPS:
            # A long message that is none of the explicit requests is the citizen telling their story.
            best = next(((i, p) for i, p in ranked if i in ("inform", "file_petition")), None)
            if best is not None:
                ranked = [best, *(pair for pair in ranked if pair != best)]
        intent, confidence = ranked[0]
        return intent, confidence, ranked[:3]
