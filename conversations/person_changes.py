"""What station staff change on a person's record: end early, extend, category, transfer, review, note.

Each change is checked again when it is applied (a role or a person's station may have changed since the
button was pressed), recorded in the audit trail with its before and after, and confirmed."""
from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from chat.messages import Button, Reply
from chat.payloads import CardOpen
from chat.text import one_line
from conversations.access import access, actor, refuse
from conversations.runtime import Context
from locales import t
from services.alerts import destinations
from storage.audit import record
from storage.models import Account, Alert, HelpRequest, Person, PersonNote, RequestStatus, Station
from storage.outbox import post
from storage.people import OPEN_ALERT_STATUSES


def staff_name(ctx: Context) -> str:
    """The name colleagues know the staff member by, shown as reviewer and note author."""
    inc = ctx.incoming
    return one_line(inc.user_name or f"{inc.channel}:{inc.user_id}")  # a display name must not break a line


def card_button(ctx: Context, person: Person) -> list[Button]:
    assert person.id is not None  # a person read from the database
    return [Button(ctx.t("card.open"), CardOpen(person.id).encode())]


async def changeable(ctx: Context, person_id: object, what: str) -> Person | list[Reply]:
    """The person if the caller may change their record now; else the refusal (recorded) or 'not found'."""
    person = await ctx.session.get(Person, person_id) if isinstance(person_id, int) else None
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    if not (await access(ctx)).changes(person.station_id):
        return await refuse(ctx, what)
    return person


def _audit(ctx: Context, action: str, person: Person, before: dict, after: dict) -> None:
    record(ctx.session, actor(ctx), action, "person", person.id, before, after, at=ctx.core.utcnow())


async def _tell_person(ctx: Context, person: Person, key: str, **params: object) -> None:
    """A notice to the account that reports for the person, in its language, through the outbox."""
    account = await ctx.session.get(Account, person.account_id)
    if account is None:
        return
    text = t(account.language, key, name=person.full_name, **params)
    post(ctx.session, account.channel, account.external_id, Reply(text), ctx.core.utcnow())


def short_day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


async def end_early(ctx: Context, person: Person) -> list[Reply]:
    """The last day becomes today; the closing round completes the record and sends the closing advice."""
    today = ctx.today()
    if person.end_date <= today:
        return [Reply(ctx.t("card.already_ending", name=person.full_name, end=short_day(person.end_date)))]
    before = person.end_date
    person.end_date = today
    ctx.session.add(person)
    _audit(ctx, "person.end_early", person, {"end_date": before.isoformat()}, {"end_date": today.isoformat()})
    done = ctx.t("card.ended_early", name=person.full_name, end=short_day(today))
    return [Reply(done, [card_button(ctx, person)])]


async def extend(ctx: Context, person: Person, days: int) -> list[Reply]:
    before = person.end_date
    person.end_date = before + timedelta(days=days)
    ctx.session.add(person)
    _audit(ctx, "person.extend", person, {"end_date": before.isoformat()},
           {"end_date": person.end_date.isoformat(), "days": days})
    await _tell_person(ctx, person, "card.told_new_end", end=short_day(person.end_date))
    return [Reply(ctx.t("card.extended", name=person.full_name, days=days, end=short_day(person.end_date)),
                  [card_button(ctx, person)])]


async def change_category(ctx: Context, person: Person, category: str) -> list[Reply]:
    """A new category; the end date follows from the start date by the rules (day 1 is the start date)."""
    if category == person.category:
        return [Reply(ctx.t("card.category_same"), [card_button(ctx, person)])]
    before = {"category": person.category, "end_date": person.end_date.isoformat()}
    person.category = category
    person.end_date = person.start_date + timedelta(days=ctx.core.rules.quarantine_days[category] - 1)
    ctx.session.add(person)
    _audit(ctx, "person.category", person, before, {"category": category, "end_date": person.end_date.isoformat()})
    if person.end_date != date.fromisoformat(before["end_date"]):
        await _tell_person(ctx, person, "card.told_new_end", end=short_day(person.end_date))
    key = "card.category_changed_past" if person.end_date < ctx.today() else "card.category_changed"
    return [Reply(ctx.t(key, name=person.full_name, category=ctx.t(f"category.{category}"),
                        end=short_day(person.end_date)), [card_button(ctx, person)])]


async def transfer(ctx: Context, person: Person, station: Station) -> list[Reply]:
    """Move the person, and their alerts and help requests still open, to another station; its groups and the
    person are told."""
    old = await ctx.session.get(Station, person.station_id)
    assert old is not None and station.id is not None  # a foreign key, and stations are never deleted
    person.station_id = station.id
    ctx.session.add(person)
    alerts = await _move_open(ctx, Alert, person, station, OPEN_ALERT_STATUSES)
    requests = await _move_open(ctx, HelpRequest, person, station, (RequestStatus.NEW, RequestStatus.IN_PROGRESS))
    _audit(ctx, "person.transfer", person, {"station": old.code, "station_name": old.label},
           {"station": station.code, "station_name": station.label, "open_alerts_moved": alerts,
            "open_requests_moved": requests})
    await _tell_new_station(ctx, person, old, station)
    await _tell_person(ctx, person, "card.told_transfer", station=station.label)
    buttons = [card_button(ctx, person)] if (await access(ctx)).sees(station.id) else []
    return [Reply(ctx.t("card.transferred", name=person.full_name, station=station.label), buttons)]


async def _move_open(ctx: Context, model: type[Alert | HelpRequest], person: Person, station: Station,
                     open_statuses: tuple[str, ...]) -> int:
    """Alerts not yet resolved and requests not yet done follow the person: the new station is the one to act
    on them now (the old one's buttons on them then refuse: not its station's any more)."""
    query = select(model).where(model.person_id == person.id, col(model.status).in_(open_statuses))
    rows = list((await ctx.session.exec(query)).all())
    for row in rows:
        row.station_id = station.id
        ctx.session.add(row)
    return len(rows)


async def _tell_new_station(ctx: Context, person: Person, old: Station, station: Station) -> None:
    assert station.id is not None  # read from the database
    for channel, chat_id, lang in await destinations(ctx.session, ctx.core, station.id):
        text = t(lang, "card.transfer_notice", name=one_line(person.full_name),
                 age=ctx.today().year - person.birth_year, phone=person.phone, address=one_line(person.address),
                 station=station.label, old=old.label,
                 category=t(lang, f"category.{person.category}"), end=short_day(person.end_date), who=staff_name(ctx))
        post(ctx.session, channel, chat_id, Reply(text), ctx.core.utcnow())


async def mark_reviewed(ctx: Context, person: Person) -> str:
    before = {"reviewed_at": person.reviewed_at.isoformat() if person.reviewed_at else None,
              "reviewed_by": person.reviewed_by}
    person.reviewed_at, person.reviewed_by = ctx.core.utcnow(), staff_name(ctx)
    ctx.session.add(person)
    _audit(ctx, "person.review", person, before,
           {"reviewed_at": person.reviewed_at.isoformat(), "reviewed_by": person.reviewed_by})
    return ctx.t("card.reviewed_done", name=person.full_name)


async def add_note(ctx: Context, person: Person, text: str) -> list[Reply]:
    assert person.id is not None  # read from the database by changeable()
    note = PersonNote(person_id=person.id, author=staff_name(ctx), text=text, at=ctx.core.utcnow())
    ctx.session.add(note)
    await ctx.session.flush()
    _audit(ctx, "person.note", person, {}, {"note_id": note.id, "note": text})
    return [Reply(ctx.t("card.note_saved", name=person.full_name), [card_button(ctx, person)])]
