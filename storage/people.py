"""People as the station sees them: the four work lists, search, a person's record and open alerts.

Every function takes the caller's AsyncSession and never commits. `station_id=None` means the whole
province (admins and province viewers); callers decide who may ask for what.
Lists are queries run at each page, never stored snapshots: they follow registrations and declarations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat import parse
from chat.text import fold
from storage.models import Alert, AlertStatus, Declaration, HelpRequest, Person, PersonNote, PersonStatus

# The four lists of /danhsach, by the short code their buttons carry.
UNDER_QUARANTINE, ABNORMAL, NOT_DECLARED, ENDING_SOON = "act", "abn", "nod", "end"
LIST_KINDS = (UNDER_QUARANTINE, ABNORMAL, NOT_DECLARED, ENDING_SOON)
ENDING_SOON_DAYS = 2  # end date today, tomorrow or the day after
ABNORMAL_TIERS = ("danger", "watch")
OPEN_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
SEARCH_LIMIT = 20
_DIGITS_ONLY = re.compile(r"[\d\s.\-()+]+")
PARTIAL_DIGITS_MIN = 4  # the last digits of a phone number, read out over the phone


def _scoped(station_id: int | None) -> list[Any]:
    return [] if station_id is None else [Person.station_id == station_id]


def _declared_today(today: date, tiers: tuple[str, ...] | None = None) -> Any:
    where = [col(Declaration.person_id) == Person.id, col(Declaration.day) == today]
    if tiers is not None:
        where.append(col(Declaration.tier).in_(tiers))
    return exists(select(Declaration.id).where(*where))


def _open_alert() -> Any:
    return exists(select(Alert.id).where(Alert.person_id == Person.id,
                                         col(Alert.status).in_(OPEN_ALERT_STATUSES)))


def list_filter(kind: str, today: date) -> list[Any]:
    """The WHERE clauses of one list. Abnormal keeps people who completed today: their alert still needs care."""
    active = Person.status == PersonStatus.ACTIVE
    if kind == UNDER_QUARANTINE:
        return [active]
    if kind == ABNORMAL:
        return [or_(_declared_today(today, ABNORMAL_TIERS), _open_alert())]
    if kind == NOT_DECLARED:
        return [active, Person.start_date <= today, ~_declared_today(today)]
    if kind == ENDING_SOON:
        return [active, Person.end_date >= today, Person.end_date <= today + timedelta(days=ENDING_SOON_DAYS)]
    raise ValueError(f"unknown list {kind}")


def _order(kind: str) -> list[Any]:
    if kind == ENDING_SOON:
        return [Person.end_date, Person.full_name, Person.id]
    return [Person.full_name, Person.id]


async def count_list(session: AsyncSession, kind: str, station_id: int | None, today: date) -> int:
    query = select(func.count(col(Person.id))).where(*list_filter(kind, today), *_scoped(station_id))
    return (await session.exec(query)).one()


async def list_page(session: AsyncSession, kind: str, station_id: int | None, today: date, page: int,
                    size: int) -> list[Person]:
    query = (select(Person).where(*list_filter(kind, today), *_scoped(station_id))
             .order_by(*_order(kind)).offset(page * size).limit(size))
    return list((await session.exec(query)).all())


async def last_declarations(session: AsyncSession, person_ids: list[int]) -> dict[int, Declaration]:
    """The newest declaration of each person, for a page of at most a few dozen people."""
    if not person_ids:
        return {}
    newest = (select(Declaration.person_id, func.max(col(Declaration.id)).label("last_id"))
              .where(col(Declaration.person_id).in_(person_ids)).group_by(col(Declaration.person_id)).subquery())
    query = select(Declaration).join(newest, col(Declaration.id) == newest.c.last_id)
    return {d.person_id: d for d in (await session.exec(query)).all()}


# --- search --------------------------------------------------------------------------------------------


@dataclass
class Found:
    people: list[Person]
    total: int  # all matches; `people` holds the first SEARCH_LIMIT


async def find_people(session: AsyncSession, query: str, station_id: int | None,
                      limit: int = SEARCH_LIMIT) -> Found:
    """People by phone (any format), CCCD, the last digits of either, or name without accents or case."""
    text = query.strip()
    if _DIGITS_ONLY.fullmatch(text):
        return await _by_number(session, text, station_id, limit)
    return await _by_name(session, text, station_id, limit)


async def _by_number(session: AsyncSession, text: str, station_id: int | None, limit: int) -> Found:
    digits = re.sub(r"\D", "", text)
    phone = parse.phone(text)
    if phone is not None:
        match = col(Person.phone) == phone
    elif len(digits) == 12:
        match = col(Person.id_number) == digits
    elif len(digits) >= PARTIAL_DIGITS_MIN:
        match = or_(col(Person.phone).contains(digits), col(Person.id_number).contains(digits))
    else:
        return Found([], 0)
    where = [match, *_scoped(station_id)]
    total = (await session.exec(select(func.count(col(Person.id))).where(*where))).one()
    people = (await session.exec(select(Person).where(*where).order_by(col(Person.full_name), col(Person.id))
                                 .limit(limit))).all()
    return Found(list(people), total)


def _name_rank(name: str, folded_query: str, words: list[str]) -> int | None:
    """0 the whole name, 1 every word begins a word of the name; None: no match."""
    folded = fold(name)
    if folded == folded_query:
        return 0
    tokens = folded.split()
    if all(any(token.startswith(w) for token in tokens) for w in words):
        return 1
    return None


async def _by_name(session: AsyncSession, text: str, station_id: int | None, limit: int) -> Found:
    """Folded in Python: names have no folded column, and a station holds hundreds of people, not millions."""
    folded = fold(text)
    words = folded.split()
    if not words:
        return Found([], 0)
    rows = (await session.exec(select(Person.id, Person.full_name).where(*_scoped(station_id)))).all()
    ranked = sorted((rank, fold(name), pid) for pid, name in rows
                    if (rank := _name_rank(name, folded, words)) is not None)
    ids = [pid for _, _, pid in ranked[:limit]]
    people = {p.id: p for p in (await session.exec(select(Person).where(col(Person.id).in_(ids)))).all()}
    return Found([people[i] for i in ids], len(ranked))


# --- a person's record ---------------------------------------------------------------------------------


async def declarations_of(session: AsyncSession, person_id: int, limit: int) -> list[Declaration]:
    query = (select(Declaration).where(Declaration.person_id == person_id)
             .order_by(col(Declaration.declared_at).desc(), col(Declaration.id).desc()).limit(limit))
    return list((await session.exec(query)).all())


async def alerts_of(session: AsyncSession, person_id: int, limit: int) -> list[Alert]:
    query = (select(Alert).where(Alert.person_id == person_id)
             .order_by(col(Alert.created_at).desc(), col(Alert.id).desc()).limit(limit))
    return list((await session.exec(query)).all())


async def requests_of(session: AsyncSession, person_id: int, limit: int) -> list[HelpRequest]:
    query = (select(HelpRequest).where(HelpRequest.person_id == person_id)
             .order_by(col(HelpRequest.created_at).desc(), col(HelpRequest.id).desc()).limit(limit))
    return list((await session.exec(query)).all())


async def notes_of(session: AsyncSession, person_id: int, limit: int) -> list[PersonNote]:
    query = (select(PersonNote).where(PersonNote.person_id == person_id)
             .order_by(col(PersonNote.at).desc(), col(PersonNote.id).desc()).limit(limit))
    return list((await session.exec(query)).all())


async def reporter_of(session: AsyncSession, person: Person) -> Person | None:
    """Who declares for a household member: the registered person of the same account."""
    if person.is_self:
        return None
    query = select(Person).where(Person.account_id == person.account_id, col(Person.is_self).is_(True))
    return (await session.exec(query.order_by(col(Person.id)))).first()


# --- open alerts ---------------------------------------------------------------------------------------


async def open_alerts(session: AsyncSession, station_id: int | None, offset: int,
                      limit: int) -> tuple[list[tuple[Alert, Person]], int]:
    """Open and acknowledged alerts, newest first, with their people; and how many there are."""
    where: list[ColumnElement[bool]] = [col(Alert.status).in_(OPEN_ALERT_STATUSES)]
    if station_id is not None:
        where.append(col(Alert.station_id) == station_id)
    total = (await session.exec(select(func.count(col(Alert.id))).where(*where))).one()
    query = (select(Alert, Person).join(Person, col(Person.id) == Alert.person_id).where(*where)
             .order_by(col(Alert.created_at).desc(), col(Alert.id).desc()).offset(offset).limit(limit))
    return [(alert, person) for alert, person in (await session.exec(query)).all()], total
