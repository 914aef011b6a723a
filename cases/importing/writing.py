"""Write checked rows: tracking numbers from the daily counters, petitioners found or created, keys reserved in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from cases.importing.checking import Row
from cases.importing.reading import BadRow
from cases.models import Petitioner, TrackingCounter
from core.db import insert_for
from core.security import pii

MAX_DAILY_SEQ = 999_999


@dataclass
class Batch:
    """What one batch wrote."""

    imported: int = 0
    already: int = 0
    rejects: list[tuple[int, BadRow]] = field(default_factory=list)


def number_rows(session: Session, rows: list[Row], out: Batch) -> list[Row]:
    """Give rows without a tracking number the next free ones of their day; keep the counters past supplied ones."""
    upsert = insert_for(session)
    dialect = session.get_bind().dialect.name
    supplied: dict[str, int] = {}
    for r in rows:
        if r.tracking_no:
            _, day, seq = r.tracking_no.split("-")
            supplied[day] = max(supplied.get(day, 0), int(seq))
    if supplied:
        higher = func.greatest if dialect == "postgresql" else func.max
        stmt = upsert(TrackingCounter).values([{"day": d, "last": n} for d, n in sorted(supplied.items())])
        session.execute(stmt.on_conflict_do_update(index_elements=[TrackingCounter.day],
                                                   set_={"last": higher(TrackingCounter.last, stmt.excluded.last)}))
    wanted: dict[str, int] = {}
    for r in rows:
        if not r.tracking_no:
            wanted[r.received_day] = wanted.get(r.received_day, 0) + 1
    if not wanted:
        return rows
    stmt = upsert(TrackingCounter).values([{"day": d, "last": n} for d, n in sorted(wanted.items())])
    stmt = stmt.on_conflict_do_update(index_elements=[TrackingCounter.day],
                                      set_={"last": TrackingCounter.last + stmt.excluded.last})
    last = dict(session.execute(stmt.returning(TrackingCounter.day, TrackingCounter.last)).all())
    nxt = {d: last[d] - n + 1 for d, n in wanted.items()}
    kept = []
    for r in rows:
        if not r.tracking_no:
            seq = nxt[r.received_day]
            nxt[r.received_day] += 1
            if seq > MAX_DAILY_SEQ:
                out.rejects.append((r.line, BadRow("tracking_no", f"{r.received_day} 当日编号已用完",
                                                    f"the tracking numbers of {r.received_day} are used up")))
                continue
            r.tracking_no = f"XF-{r.received_day}-{seq:06d}"
        kept.append(r)
    return kept


def petitioner_ids(session: Session, rows: list[Row], now: datetime) -> dict[int, int]:
    """Return the petitioner id of each row (by line) with one: the known person of that ID number or phone, or a new one."""
    cipher = pii()
    wanted = [(r.line, r.person, cipher.lookup_hash(r.person[2]) if r.person[2] else None,
               cipher.lookup_hash(r.person[1]) if r.person[1] else None) for r in rows if r.person]
    if not wanted:
        return {}
    # As find_or_create_petitioner: an ID number identifies a person; a phone does only when no ID number is given.
    id_hashes = {h for _, _, h, _ in wanted if h}
    phone_hashes = {p for _, _, h, p in wanted if p and not h}
    by_id: dict[str, int | dict] = {}
    by_phone: dict[str, int | dict] = {}
    if id_hashes:
        by_id.update(session.execute(select(Petitioner.id_number_hash, func.min(Petitioner.id))
                                     .where(Petitioner.id_number_hash.in_(id_hashes))
                                     .group_by(Petitioner.id_number_hash)).all())
    if phone_hashes:
        by_phone.update(session.execute(select(Petitioner.phone_hash, func.min(Petitioner.id))
                                        .where(Petitioner.phone_hash.in_(phone_hashes))
                                        .group_by(Petitioner.phone_hash)).all())
    new: list[dict] = []
    refs: list[tuple[int, int | dict]] = []
    for line, (name, phone, id_number), id_hash, phone_hash in wanted:
        ref = by_id.get(id_hash) if id_hash else (by_phone.get(phone_hash) if phone_hash else None)
        if ref is None:
            ref = {"name": name, "phone": phone, "phone_hash": phone_hash, "id_number": id_number,
                   "id_number_hash": id_hash, "created_at": now}
            new.append(ref)
            # The same new person twice in one batch is one petitioner.
            if id_hash:
                by_id[id_hash] = ref
            elif phone_hash:
                by_phone[phone_hash] = ref
        elif isinstance(ref, dict) and not ref["name"]:
            # A person first seen in this batch takes a name a later row gives; known people are left as they are.
            ref["name"] = name
        refs.append((line, ref))
    for pid, person in zip(allocate_ids(session, Petitioner.__table__, len(new)), new, strict=True):
        person["id"] = pid
    insert_rows(session, Petitioner.__table__, new)
    return {line: ref if isinstance(ref, int) else ref["id"] for line, ref in refs}


def allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    """Reserve n primary keys of a table: from its sequence on PostgreSQL, above the maximum on SQLite."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                    {"t": table.name, "n": n}))
    # SQLite: the transaction began IMMEDIATE, so nobody else inserts until it commits.
    top = session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    return list(range(top + 1, top + n + 1))


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert rows into a table in one executemany; no rows, no statement."""
    if rows:
        session.execute(insert(table), rows)
