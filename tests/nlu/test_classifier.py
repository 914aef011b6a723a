"""The category classifier: CSV reading, training on real petitions, save / load, evaluation, taxonomy levels."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
import pytest

from nlu.classifier import CategoryClassifier, ClassifierSettings, DataError, evaluate, read_rows

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "teddycup2020_c"
TEXT = "留言主题,留言详情"
LABEL = "一级标签"
needs_data = pytest.mark.skipif(not (DATA / "fj2_sample_495.csv").is_file(),
                                reason=f"the Teddy Cup 2020 C data is not at {DATA} (../shared/data beside the repository)")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _subset(rows, n: int, seed: int):
    rng = random.Random(seed)
    return rng.sample(rows, min(n, len(rows)))


@pytest.fixture(scope="module")
def real():
    """A model trained on part of the real data, and title+body rows it has never seen (not even their titles)."""
    if not (DATA / "fj2_sample_495.csv").is_file():
        pytest.skip(f"the Teddy Cup 2020 C data is not at {DATA} (../shared/data beside the repository)")
    titles = read_rows([DATA / "fj2_titles_labels.csv"], text_cols=TEXT, label_col=LABEL)
    details = read_rows([DATA / "fj2_details_labels.csv"], text_cols=TEXT, label_col=LABEL)
    sample = read_rows([DATA / "fj2_sample_495.csv"], text_cols=TEXT, label_col=LABEL)
    held = _subset(sample, 200, seed=1)
    held_titles = {r.fields[0] for r in held}
    # The titles file holds the sample's titles too: drop them, or the held-out rows would be graded on memory.
    train = (_subset([r for r in titles if r.fields[0] not in held_titles], 1200, seed=2) + _subset(details, 400, seed=3)
             + [r for r in sample if r not in held])
    model = CategoryClassifier().fit([r.fields for r in train], [r.label for r in train],
                                     settings=ClassifierSettings(cv_folds=3))
    return model, train, held


def test_read_rows_joins_listed_columns_and_treats_missing_ones_as_empty(tmp_path):
    both = _write_csv(tmp_path / "both.csv", ["id", "title", "body", "cat"], [["1", "路灯坏了", "小区门口路灯不亮", "城乡建设"]])
    titles = _write_csv(tmp_path / "titles.csv", ["title", "cat"], [["学校乱收费", "教育文体"]])
    bodies = _write_csv(tmp_path / "bodies.csv", ["body", "cat"], [["医院排队太久", "卫生计生"]])
    rows = read_rows([both, titles, bodies], text_cols="title,body", label_col="cat")
    assert [r.fields for r in rows] == [("路灯坏了", "小区门口路灯不亮"), ("学校乱收费", ""), ("", "医院排队太久")]
    assert [r.text for r in rows] == ["路灯坏了\n小区门口路灯不亮", "学校乱收费", "医院排队太久"]
    assert [r.label for r in rows] == ["城乡建设", "教育文体", "卫生计生"]
    assert rows[0].record["id"] == "1" and rows[2].line == 2


def test_read_rows_reports_unusable_files(tmp_path):
    f = _write_csv(tmp_path / "f.csv", ["title", "cat"], [["x", "y"]])
    with pytest.raises(DataError, match="none of the text columns"):
        read_rows([f], text_cols="body", label_col="cat")
    with pytest.raises(DataError, match="no label column 'label'"):
        read_rows([f], text_cols="title", label_col="label")
    with pytest.raises(DataError, match="no such file"):
        read_rows([tmp_path / "absent.csv"], text_cols="title")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("title\n\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_rows([latin1], text_cols="title")


def test_evaluate_gives_per_class_figures_and_the_confusion_matrix():
    report = evaluate(["a", "a", "b", "c"], ["a", "b", "b", "c"], labels=["c", "b", "a"])
    assert report["accuracy"] == 0.75
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_class"]["b"]["precision"] == 0.5
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert report["confusion"] == {"labels": ["c", "b", "a"], "matrix": [[1, 0, 0], [0, 1, 0], [0, 1, 1]]}


@needs_data
def test_real_model_classifies_unseen_title_and_body_messages(real):
    model, _, held = real
    predictions = model.predict([r.fields for r in held])
    report = evaluate([r.label for r in held], [p.label for p in predictions], labels=model.classes)
    # Measured 0.83–0.89 over three draws of 200 held-out messages with 1,200 titles, 400 bodies and
    # 295 sample rows for training (all the data reaches 0.87 in 5-fold cross-validation, see
    # bench/classifier_cv.py); the floor leaves room for the smaller training set used here.
    assert report["macro_f1"] >= 0.78
    assert report["accuracy"] >= 0.78
    assert sorted(model.classes) == sorted({r.label for r in held})


@needs_data
def test_predictions_carry_sorted_top3_and_probabilities(real):
    model, _, held = real
    for prediction in model.predict([r.fields for r in held[:50]]):
        assert 0.0 <= prediction.confidence <= 1.0
        assert len(prediction.top3) == 3
        probs = [p for _, p in prediction.top3]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) <= 1.0 + 1e-9
        assert prediction.top3[0] == (prediction.label, prediction.confidence)
    # A plain string is one field; the title alone is often enough.
    assert model.predict_one("A市某小学暑假强制学生补课并收取补课费").label == "教育文体"


@needs_data
def test_confidence_means_something_on_unseen_messages(real):
    model, _, held = real
    predictions = model.predict([r.fields for r in held])
    confident = [p.label == r.label for p, r in zip(predictions, held, strict=True) if p.confidence >= 0.9]
    unsure = [p.label == r.label for p, r in zip(predictions, held, strict=True) if p.confidence < 0.6]
    # Measured: 93–97 % right at 0.9 and above, about 50 % below 0.6.
    assert len(confident) >= 50
    assert np.mean(confident) >= 0.88
    assert not unsure or np.mean(unsure) < np.mean(confident) - 0.2


@needs_data
def test_save_and_load_keep_predictions_and_write_the_manifest(real, tmp_path):
    model, train, held = real
    manifest_path = model.save(tmp_path / "model")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["kind"] == "petition-category-classifier"
    assert manifest["classes"] == sorted({r.label for r in train})
    assert len(manifest["data"]["sha256"]) == 64 and manifest["data"]["rows"] == len(train)
    assert manifest["settings"]["cv_folds"] == 3 and manifest["settings"]["char_ngrams"] == [1, 3]
    assert manifest["metrics"]["cv"]["folds"] == 3 and 0.7 < manifest["metrics"]["cv"]["macro_f1"] <= 1.0
    assert manifest["metrics"]["cv"]["multi_field_rows"]["n"] == sum(1 for r in train if all(r.fields))
    assert dt.datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert {"python", "numpy", "scikit-learn", "jieba"} <= set(manifest["versions"])
    assert manifest["taxonomy"]["levels_seen"] == 1
    assert {p.name for p in manifest_path.parent.iterdir()} == {"manifest.json", "features.npz", "nodes.npz"}

    loaded = CategoryClassifier.load(tmp_path / "model")
    before = model.predict([r.fields for r in held[:30]])
    after = loaded.predict([r.fields for r in held[:30]])
    assert [p.label for p in after] == [p.label for p in before]
    assert np.allclose([p.confidence for p in after], [p.confidence for p in before], atol=1e-6)
    assert loaded.metrics == manifest["metrics"]


def _tiny_model(**settings) -> CategoryClassifier:
    texts = ["路灯不亮", "道路坑洼", "学校收费", "老师体罚", "路灯坏了", "学校补课"] * 3
    labels = ["城乡建设", "城乡建设", "教育文体", "教育文体", "城乡建设", "教育文体"] * 3
    return CategoryClassifier().fit(texts, labels, settings=ClassifierSettings(cv_folds=0, **settings))


def test_data_hash_follows_the_training_data():
    a, b = _tiny_model(), _tiny_model()
    assert a.info["data"]["sha256"] == b.info["data"]["sha256"]
    c = CategoryClassifier().fit(["路灯不亮", "学校收费"], ["城乡建设", "教育文体"], settings=ClassifierSettings(cv_folds=0))
    assert c.info["data"]["sha256"] != a.info["data"]["sha256"]


def test_load_reads_only_our_own_artefacts(tmp_path):
    with pytest.raises(DataError, match="manifest.json is missing"):
        CategoryClassifier.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "something-else"}), encoding="utf-8")
    with pytest.raises(DataError, match="no category classifier"):
        CategoryClassifier.load(tmp_path)
    model_dir = tmp_path / "model"
    _tiny_model().save(model_dir)
    # An array of Python objects would need unpickling: loading must refuse it, not run it.
    np.savez(model_dir / "nodes.npz", n0_coef=np.array([object()], dtype=object), n0_intercept=np.zeros(2))
    with pytest.raises(DataError, match="damaged"):
        CategoryClassifier.load(model_dir)


def test_training_needs_two_categories_and_labelled_text():
    with pytest.raises(DataError, match="two categories"):
        CategoryClassifier().fit(["a", "b"], ["x", "x"], settings=ClassifierSettings(cv_folds=0))
    with pytest.raises(DataError, match="no row"):
        CategoryClassifier().fit(["", "b"], ["x", ""], settings=ClassifierSettings(cv_folds=0))


# Synthetic taxonomy: the shared data has first-level labels only, so the second and third levels are
# tested on made-up petitions whose wording decides each level.
_TAXONOMY = {
    "城乡建设/物业管理": ["物业", "电梯", "小区保安", "物业费"],
    "城乡建设/市政设施": ["路灯", "下水道", "人行道", "井盖"],
    "教育文体/学前教育": ["幼儿园", "托儿所", "幼师", "入园"],
    "教育文体/义务教育": ["小学", "初中", "学区", "课后服务"],
}
_NOISE = ["请尽快处理", "多次反映无果", "希望领导重视", "严重影响生活", "麻烦相关部门", "我们是居民"]


def _synthetic(n_per_class: int, seed: int):
    rng = random.Random(seed)
    rows = []
    for label, words in _TAXONOMY.items():
        for _ in range(n_per_class):
            title = rng.choice(["A市", "B区", "C县"]) + rng.choice(words) + rng.choice(["问题", "投诉", "怎么办"])
            body = "，".join(rng.sample(words, 2) + rng.sample(_NOISE, 3))
            # One in three rows has only a title, like the real data.
            rows.append(((title, body if rng.random() > 0.33 else ""), label))
    return rows


def test_second_level_models_are_trained_under_each_category_and_saved(tmp_path):
    train = _synthetic(30, seed=0)
    # A first-level-only row is fine: it trains the first level and is left out of the second.
    train.append((("环境噪音扰民", "工地夜间施工噪音"), "环境保护"))
    train += [((f"工厂排放废气{i}", "空气污染"), "环境保护") for i in range(20)]
    texts, labels = [t for t, _ in train], [y for _, y in train]
    model = CategoryClassifier().fit(texts, labels, settings=ClassifierSettings(levels=2, cv_folds=3))
    assert model.classes == ["城乡建设", "教育文体", "环境保护"]
    assert set(model.nodes) == {"", "城乡建设", "教育文体"}
    assert model.info["taxonomy"] == {"levels_seen": 2, "levels_trained": 2, "models_per_level": {"1": 1, "2": 2}}
    assert model.metrics["children"]["教育文体"]["classes"] == ["义务教育", "学前教育"]

    test = _synthetic(5, seed=7)
    predictions = model.predict([t for t, _ in test])
    assert np.mean([p.label == y for p, (_, y) in zip(predictions, test, strict=True)]) >= 0.9
    first = predictions[0]
    assert first.label.count("/") == 1 and len(first.path) == 2
    assert first.confidence == pytest.approx(first.path[0][1] * first.path[1][1])
    assert first.top3[0][0] == first.label.split("/")[0]
    assert model.predict_one(("工厂废气", "空气污染严重")).label == "环境保护"

    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["taxonomy"]["levels_seen"] == 2
    assert [n["path"] for n in manifest["nodes"]] == ["", "城乡建设", "教育文体"]
    loaded = CategoryClassifier.load(tmp_path / "m")
    assert [p.label for p in loaded.predict([t for t, _ in test])] == [p.label for p in predictions]


def test_levels_one_trains_the_first_level_of_path_labels():
    train = _synthetic(10, seed=3)
    model = CategoryClassifier().fit([t for t, _ in train], [y for _, y in train], settings=ClassifierSettings(cv_folds=0))
    assert set(model.nodes) == {""}
    assert model.info["taxonomy"]["levels_seen"] == 2 and model.info["taxonomy"]["levels_trained"] == 1
    assert "/" not in model.predict_one("小区物业不作为").label
