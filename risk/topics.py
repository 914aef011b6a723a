"""Hot topics: the issues petitions of a period cluster into, with their keywords, size and growth.

Texts are segmented with jieba (parts of speech kept: nouns, verbal nouns, verbs, idioms, abbreviations) and
pseudonymised place tokens (A市, A7县) are kept whole. Terms are weighted by TF-IDF whose
document frequencies come from the period and the one before it (the background), so that what every petition
says ("反映", "小区", "希望") weighs little. The period's petitions are clustered by average-linkage on cosine
distance with a similarity threshold (issue-level clusters: one estate's parking dispute, one case of fraud);
a theme is a cluster of at least ``min_size`` petitions. Its growth is (size + prior) / (earlier + prior), where
``earlier`` counts the previous period's petitions whose mean similarity to the theme passes the same threshold.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Petition
from nlu.features import clean

# A pseudonymised place token (A市, A7县, K1区) of the Teddy Cup board; jieba would split it into "A7" and "县".
PLACE = re.compile(r"(?<![A-Za-z0-9])[A-Z]\d{0,2}(?:市|区|县)")
KEEP_POS = ("n", "vn", "v", "l", "i", "j", "nz", "ns", "nt", "nr", "nl", "ng", "an")
STOP = frozenset("""
反映 希望 请求 要求 解决 投诉 咨询 建议 请问 存在 没有 进行 表示 出现 需要 知道 认为 导致 造成 影响 发现 已经 可以
问题 情况 领导 政府 部门 相关 有关 市民 群众 我们 你们 他们 本人 现在 目前 时候 时间 事情 工作 关注 处理 回复 谢谢 感谢
您好 你好 尊敬 书记 市长 局长 主任 是否 能否 为什么 怎么 什么 如何 这个 那个 一个 这些 那些 东西 地方 方面 原因 结果
答复 留言 网友 来信 举报 严重 一直 不能 不会 应该 看到 得到 发生 希望能 实在 真的 没人 有人 属于 作为 成为 开始 继续
造成 给予 无法 得不到 请求 恳请 麻烦 帮助 帮忙 调查 核实 落实 办理 规定 政策 规范 管理 有限公司 公司 单位 人员 业主 居民
西地省 情况 问题 谢谢您 领导们 百姓 老百姓 大家 家里 家人 自己 以上 以下 之后 之前 期间 今年 去年 每天 一年 多年 年底
""".split())
THRESHOLD = 0.2  # cosine similarity (average linkage) that joins two petitions into one issue
MAX_AGGLOMERATIVE = 6000  # beyond this many documents a single-pass leader clustering replaces average linkage
MAX_CHARS = 600


@dataclass(frozen=True)
class Topic:
    """A theme of the period: its keywords, size, the petitions in it (most typical first) and its growth."""

    keywords: tuple[str, ...]
    size: int
    ids: tuple
    examples: tuple
    earlier: int
    growth: float
    cohesion: float
    heat: float

    def to_dict(self) -> dict:
        """Return the theme as plain JSON-ready data."""
        return {"keywords": list(self.keywords), "size": self.size, "ids": list(self.ids),
                "examples": list(self.examples), "earlier": self.earlier, "growth": round(self.growth, 3),
                "cohesion": round(self.cohesion, 3), "heat": round(self.heat, 3)}


@functools.cache
def _pos_tokenizer():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return jieba.posseg.POSTokenizer(tokenizer)


@functools.lru_cache(maxsize=32768)
def terms(text: str) -> tuple[str, ...]:
    """Return the meaningful terms of a text: place tokens whole, then nouns, verbs and phrases of two or more characters."""
    text = clean(text or "", max_chars=MAX_CHARS)
    places = [m.group(0) for m in PLACE.finditer(text)]
    text = PLACE.sub("，", text)
    out = list(places)
    for word, flag in _pos_tokenizer().cut(text, HMM=False):
        word = word.strip()
        if len(word) < 2 or word in STOP or not flag.startswith(KEEP_POS) or word.isascii():
            continue
        out.append(word)
    return tuple(out)


def _fields(doc: Sequence) -> list[str]:
    return [str(f) for f in doc[1:] if f]


def _doc_terms(doc: Sequence, title_weight: int) -> Counter[str]:
    """Count a document's terms; with several fields (title, content, …) the first one counts title_weight times."""
    fields = _fields(doc)
    counter: Counter[str] = Counter()
    for i, text in enumerate(fields):
        tokens = terms(text)
        for _ in range(title_weight if i == 0 and len(fields) > 1 else 1):
            counter.update(tokens)
    return counter


def _tfidf(bags: list[Counter[str]], background: list[Counter[str]], min_df: int
           ) -> tuple[sp.csr_matrix, sp.csr_matrix, list[str], np.ndarray]:
    df: Counter[str] = Counter()
    for bag in (*bags, *background):
        df.update(bag.keys())
    n = len(bags) + len(background)
    vocab = sorted(t for t, c in df.items() if c >= min_df)
    index = {t: i for i, t in enumerate(vocab)}
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in vocab], dtype=np.float64)

    def matrix(rows: list[Counter[str]]) -> sp.csr_matrix:
        indptr, cols, vals = [0], [], []
        for bag in rows:
            pairs = [(index[t], (1 + math.log(c)) * idf[index[t]]) for t, c in bag.items() if t in index]
            norm = math.sqrt(sum(v * v for _, v in pairs)) or 1.0
            cols.extend(i for i, _ in pairs)
            vals.extend(v / norm for _, v in pairs)
            indptr.append(len(cols))
        return sp.csr_matrix((np.array(vals, dtype=np.float64), np.array(cols, dtype=np.int64), np.array(indptr)),
                             shape=(len(rows), len(vocab)))

    return matrix(bags), matrix(background), vocab, idf


def _agglomerative(x: sp.csr_matrix, threshold: float) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = x.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    sim = (x @ x.T).toarray()
    dist = np.clip(1.0 - sim, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1


def _leader(x: sp.csr_matrix, threshold: float, *, block: int = 512) -> np.ndarray:
    """Assign each document to the most similar existing cluster centroid above threshold, or start a new one.

    A centroid is its members' normalised sum (a new cluster's is its first document), so a document's similarity
    to it is the sum of its similarities to the members over the norm of the sum. Both come from the documents'
    pairwise similarities, computed a block at a time: no dense centroid matrix (clusters × vocabulary) is built,
    which made a week of a large city's intake (thousands of documents) take minutes.
    """
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    squared: list[float] = []  # squared norm of each cluster's sum
    divisor: list[float] = []  # what the sum is divided by to give the centroid
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims_block = (x[start:stop] @ x[:stop].T).toarray()
        for r in range(stop - start):
            i = start + r
            row = sims_block[r]
            if squared:
                dots = np.bincount(labels[:i], weights=row[:i], minlength=len(squared))
                sims = dots / np.asarray(divisor)
                best = int(np.argmax(sims))
                if sims[best] >= threshold:
                    labels[i] = best
                    squared[best] += 2.0 * dots[best] + row[i]
                    divisor[best] = math.sqrt(max(squared[best], 0.0)) or 1.0
                    continue
            labels[i] = len(squared)
            squared.append(float(row[i]))
            divisor.append(1.0)
    return labels


def hot_topics(docs_now: Sequence[Sequence], docs_before: Sequence[Sequence] = (), *, k: int = 10,
               threshold: float = THRESHOLD, min_size: int = 2, n_keywords: int = 8, n_examples: int = 3,
               prior: float = 1.0, title_weight: int = 2, rank_by: str = "size",
               weights: Mapping[object, float] | None = None) -> list[Topic]:
    """Return the period's top k themes from docs (id, text) or (id, title, content, …), with growth against docs_before.

    rank_by "size" (then growth), "growth" (then size) or "heat": the sum over members of 1 + ln(1 + weight),
    where ``weights`` maps a document id to its engagement (likes, co-signers); without weights heat is the size.
    """
    if rank_by not in ("size", "growth", "heat"):
        raise ValueError(f"rank_by must be 'size', 'growth' or 'heat', not {rank_by!r}")
    docs_now, docs_before = list(docs_now), list(docs_before)
    bags = [_doc_terms(d, title_weight) for d in docs_now]
    keep = [i for i, b in enumerate(bags) if b]
    if len(keep) < min_size:
        return []
    background = [_doc_terms(d, title_weight) for d in docs_before]
    x, xb, vocab, idf = _tfidf([bags[i] for i in keep], background, min_df=2)
    if x.nnz == 0:
        return []
    if x.shape[0] <= MAX_AGGLOMERATIVE:
        labels = _agglomerative(x, threshold)
    else:
        labels = _leader(x, threshold)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [g for g in np.split(order, bounds) if len(g) >= min_size]
    if not groups:
        return []
    sizes = np.array([len(g) for g in groups])
    # Mean member vector per theme: an averaging matrix (themes × documents) times the documents.
    averaging = sp.csr_matrix((np.concatenate([np.full(len(g), 1.0 / len(g)) for g in groups]),
                               np.concatenate(groups), np.concatenate([[0], np.cumsum(sizes)])),
                              shape=(len(groups), x.shape[0]))
    means = (averaging @ x).tocsr()
    earlier = np.zeros(len(groups), dtype=np.int64)
    if xb.shape[0] and xb.nnz:
        # A previous petition belongs to the theme whose members it resembles most, on average, if enough.
        avg_sim = (xb @ means.T).toarray()
        best = avg_sim.argmax(axis=1)
        hit = avg_sim[np.arange(len(best)), best] >= threshold
        earlier = np.bincount(best[hit], minlength=len(groups))
    growth = (sizes + prior) / (earlier + prior)
    engagement = np.array([1.0 + math.log1p(max(float((weights or {}).get(d[0], 0.0)), 0.0)) for d in docs_now])
    heat = np.array([engagement[[keep[i] for i in g]].sum() for g in groups])
    cohesion = np.asarray(means.multiply(means).sum(axis=1)).ravel()  # the mean pairwise cosine, self-pairs included
    primary, secondary = {"size": (-sizes, -growth), "growth": (-growth, -sizes), "heat": (-heat, -sizes)}[rank_by]
    ranked = np.lexsort((-cohesion, secondary, primary))[:k]
    topics = []
    for t in ranked:
        g, mean = groups[t], means[t].toarray().ravel()
        members = x[g]
        member_sims = np.asarray(members @ mean).ravel()
        ids = tuple(docs_now[keep[i]][0] for i in g[np.argsort(-member_sims, kind="stable")])
        # Keywords: the share of members that use a term times its rarity in the background, which ranks the
        # issue's own terms above incidental words of one long message.
        score = np.asarray((members > 0).sum(axis=0)).ravel() / len(g) * idf
        top = [vocab[j] for j in np.argsort(-score, kind="stable")[:n_keywords] if score[j] > 0]
        topics.append(Topic(tuple(top), len(g), ids, ids[:n_examples], int(earlier[t]), float(growth[t]),
                            float(cohesion[t]), float(heat[t])))
    return topics


def query_hot_topics(session: Session, *, days: int = 7, now: datetime | None = None, k: int = 10,
                     **options) -> list[Topic]:
    """Return the hot topics of the petitions received in the last ``days`` days, with growth against the days before."""
    from core.db import utcnow

    now = now or utcnow()
    lo, mid = now - timedelta(days=2 * days), now - timedelta(days=days)
    rows = session.execute(select(Petition.id, Petition.title, Petition.content, Petition.received_at)
                           .where(Petition.received_at >= lo, Petition.received_at < now)
                           .order_by(Petition.received_at, Petition.id)).all()
    current = [(pid, title, content) for pid, title, content, at in rows if at >= mid]
    before = [(pid, title, content) for pid, title, content, at in rows if at < mid]
    return hot_topics(current, before, k=k, **options)
