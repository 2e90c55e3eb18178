"""Database tables. Accounts are chat identities; people are those in quarantine (see DESIGN.md)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC: sqlmodel stores datetimes as UTC and refuses naive ones."""
    return datetime.now(UTC)


# Statuses are text in the database; each family once, beside its table.
class PersonStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # ended before its end date: the person's data was erased at their request


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class RequestStatus(StrEnum):  # of a HelpRequest
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class DeletionStatus(StrEnum):
    REQUESTED = "requested"
    DONE = "done"
    REFUSED = "refused"

class Account(SQLModel, table=True):
    """A chat identity on one channel (a Telegram user, the sandbox console, later a Zalo user)."""

    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    language: str = Field(default="vi", max_length=8)
    reminder_times: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # "HH:MM" per slot
    unreachable_at: datetime | None = None  # the channel refused delivery for good (blocked the bot, left)
    unreachable_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Station(SQLModel, table=True):
    """A health station (trạm y tế), by default one per commune/ward; code = administrative unit code."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    full_name: str = Field(default="", max_length=250)
    unit_type: str = Field(default="", max_length=16)  # xa / phuong / ...
    parent_code: str | None = Field(default=None, max_length=32)  # province, or district in a 3-level setup
    search_key: str = Field(default="", max_length=250, index=True)  # accent-free lower-case name
    active: bool = Field(default=True)
    phone: str = Field(default="", max_length=20)  # the number people are told to call; "" until set

    @property
    def label(self) -> str:
        """The name people know the station by: its full name ("Trạm Y tế xã Ia Grai"), else its short one."""
        return self.full_name or self.name


class Person(SQLModel, table=True):
    """Someone in home quarantine, reported for by an account (themselves or a household member)."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    is_self: bool = Field(default=True)
    full_name: str = Field(max_length=200)
    birth_year: int
    gender: str = Field(max_length=8)  # male / female / other
    phone: str = Field(max_length=16)
    id_number: str | None = Field(default=None, max_length=12)
    station_id: int = Field(foreign_key="station.id", index=True)
    address: str = Field(max_length=300)
    category: str = Field(max_length=16)  # f1 / f2 / after_central / other
    start_date: date
    end_date: date
    status: str = Field(default=PersonStatus.ACTIVE, max_length=16, index=True)
    reviewed_at: datetime | None = None  # staff marked the record reviewed
    reviewed_by: str | None = Field(default=None, max_length=200)
    anonymized_at: datetime | None = None  # personal data removed after the retention period or on request
    consent_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)


class ConversationState(SQLModel, table=True):
    """Where an account is in a conversation, so a restart resumes it."""

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    flow: str = Field(max_length=32)
    step: str = Field(max_length=32)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class Declaration(SQLModel, table=True):
    """One health declaration of one person for one check-in slot of one day."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    day: date = Field(index=True)
    slot: str = Field(max_length=5)  # "08:00"
    declared_at: datetime = Field(default_factory=utcnow)
    temperature: float | None = None  # None: no thermometer
    symptoms: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    spo2: int | None = None
    breathing_rate: int | None = None
    note: str | None = Field(default=None, max_length=1000)
    tier: str = Field(max_length=8)  # danger / watch / normal
    reasons: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    partial: bool = Field(default=False)  # the person left the check-in before its end: what they gave


class Alert(SQLModel, table=True):
    """A case for the station: created by a danger or watch declaration, taken and handled by staff."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    declaration_id: int | None = Field(default=None, foreign_key="declaration.id")
    tier: str = Field(max_length=8)
    status: str = Field(default=AlertStatus.OPEN, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    acknowledged_by_id: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=200)
    resolved_by_id: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None  # posted to the province group (or the admins), nobody having taken it
    undelivered_warned_at: datetime | None = None  # the admins told that no copy could be delivered
    words: str | None = Field(default=None, max_length=1000)  # what the person wrote outside a check-in ("khó thở")


class GroupBinding(SQLModel, table=True):
    """A staff group chat bound to a station (its alerts and reports go there) or to the whole province."""

    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(default="station", max_length=16, sa_column_kwargs={"server_default": "station"})
    station_id: int | None = Field(default=None, foreign_key="station.id", index=True)  # None: province
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    bound_by: str | None = Field(default=None, max_length=64)
    bound_at: datetime = Field(default_factory=utcnow)


class BindCode(SQLModel, table=True):
    """A one-time code that binds a group chat to a station, or to the province (scope "province")."""

    code: str = Field(primary_key=True, max_length=32)
    scope: str = Field(default="station", max_length=16, sa_column_kwargs={"server_default": "station"})
    station_id: int | None = Field(default=None, foreign_key="station.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by_chat: str | None = Field(default=None, max_length=64)


# The outbox rows still to deliver. Written out, not bound: SQLite uses a partial index only for a query whose
# WHERE repeats the index's condition word for word (storage.outbox.claim_due does).
UNDELIVERED = "status IN ('pending', 'sending')"


def _partial(name: str, *columns: str, where: str) -> Index:
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


class Outbox(SQLModel, table=True):
    """A message that must not be lost, written in the same transaction as its cause; the sender delivers it.

    Partial indexes: a round inserts 100,000 rows and each delivery updates one, so each index covers only the
    rows its query looks for (the sender's due rows, alerts' copies, failures for /undelivered)."""

    __table_args__ = (
        _partial("ix_outbox_due", "channel", "next_attempt_at", "id", where=UNDELIVERED),
        _partial("ix_outbox_alert_id", "alert_id", where="alert_id IS NOT NULL"),
        _partial("ix_outbox_failed", "created_at", where="status = 'failed'"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # text + buttons
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    sent_message_id: str | None = Field(default=None, max_length=64)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Claim(SQLModel, table=True):
    """A scheduled send taken by one process: (kind, subject, day, slot) is unique, so it happens once."""

    __table_args__ = (UniqueConstraint("kind", "subject", "day", "slot"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # remind / chase / silent / missed / report / closing
    subject: str = Field(max_length=64)  # "person:12", "account:3", "station:5", "province"
    day: date
    slot: str = Field(default="", max_length=5)
    claimed_at: datetime = Field(default_factory=utcnow)


class StaffMember(SQLModel, table=True):
    """A person who works the system: an admin, a province viewer, or staff of one station."""

    __table_args__ = (UniqueConstraint("channel", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)  # admin / province / staff
    station_id: int | None = Field(default=None, foreign_key="station.id", index=True)
    active: bool = Field(default=True)
    added_by: str | None = Field(default=None, max_length=200)
    added_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Who changed what, when, from what to what: people, alerts, requests, roles, bindings, refusals."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=200)  # "telegram:12345 (Lan)", "cli", "system"
    action: str = Field(max_length=32)  # e.g. person.extend, alert.ack, role.grant, access.refused
    entity: str = Field(max_length=16)  # person / alert / request / role / binding / station
    entity_id: str | None = Field(default=None, max_length=64, index=True)
    before: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class HelpRequest(SQLModel, table=True):
    """A request for help (phản ánh) from a person to their station, and its status."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    status: str = Field(default=RequestStatus.NEW, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class HelpMessage(SQLModel, table=True):
    """One message of a help request's thread: the person's, or a staff member's answer."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="helprequest.id", index=True)
    sender: str = Field(max_length=8)  # person / staff
    staff_name: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", max_length=2000)
    photo_id: str | None = Field(default=None, max_length=300)  # the channel's file id
    at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    """A registration prepared from an imported list: the deep link's code and what it pre-fills."""

    code: str = Field(primary_key=True, max_length=32)
    station_id: int = Field(foreign_key="station.id", index=True)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by_account: int | None = Field(default=None, foreign_key="account.id")


class PersonNote(SQLModel, table=True):
    """A staff note on a person's record."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    author: str = Field(max_length=200)
    text: str = Field(max_length=1000)
    at: datetime = Field(default_factory=utcnow)


class ProcessedUpdate(SQLModel, table=True):
    """An update already handled: a channel that delivers it again (a retry, a replay) is ignored."""

    channel: str = Field(primary_key=True, max_length=16)
    update_id: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(default_factory=utcnow, index=True)


class Attempt(SQLModel, table=True):
    """A try at a code (bind, staff, invitation): counted so codes cannot be guessed by brute force."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    subject: str = Field(max_length=64, index=True)  # "telegram:12345"
    ok: bool = Field(default=False)
    at: datetime = Field(default_factory=utcnow, index=True)


class DeletionRequest(SQLModel, table=True):
    """A person's request to delete their data (/xoadulieu), confirmed or refused by their station."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    station_id: int = Field(foreign_key="station.id", index=True)
    status: str = Field(default=DeletionStatus.REQUESTED, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = None


class Lease(SQLModel, table=True):
    """A role only one process may hold at a time ("telegram-poller": the one getUpdates consumer Telegram
    allows per bot). The holder renews `expires_at` well before it passes; a process that dies stops renewing,
    and another takes the role over once it has passed (see storage/leases.py)."""

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=128)  # "host:pid:random", unique per process run
    expires_at: datetime
    acquired_at: datetime  # when the current holder took it over (a renewal keeps it)
