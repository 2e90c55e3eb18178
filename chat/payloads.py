"""Button payloads: one frozen dataclass per kind, written "<prefix>:<field>:<field>..." and read back typed.

`parse` returns None for whatever it cannot read (another kind, a missing field, a number that is not one, a
value outside its Literal), so a forged or stale payload never reaches a handler half-read. Every payload
fits Telegram's 64 bytes of callback data; `encode` refuses one that would not.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from chat.parse import payload_number

MAX_BYTES = 64  # Telegram's limit on callback data


@dataclass(frozen=True)
class Payload:
    prefix: ClassVar[str] = ""

    def __init_subclass__(cls, prefix: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.prefix = prefix

    def encode(self) -> str:
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        while values and values[-1] in ("", None) and len(values) > _required(type(self)):
            values.pop()  # optional fields left empty are not written
        text = ":".join([self.prefix, *("" if v is None else str(v) for v in values)])
        if len(text.encode()) > MAX_BYTES:
            raise ValueError(f"a {self.prefix} payload over {MAX_BYTES} bytes")
        return text

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        fields = dataclasses.fields(cls)
        parts = (data or "").split(":", len(fields))  # the last field takes the rest: a step's value may hold ':'
        if parts[0] != cls.prefix or not _required(cls) <= len(parts) - 1 <= len(fields):
            return None
        hints = typing.get_type_hints(cls)
        values: dict[str, object] = {}
        for f, text in zip(fields, parts[1:], strict=False):
            value = _read(hints[f.name], text)
            if value is _UNREADABLE:
                return None
            values[f.name] = value
        return cls(**values)


_UNREADABLE = object()


def _required(cls: type) -> int:
    return sum(f.default is dataclasses.MISSING for f in dataclasses.fields(cls))


def _read(hint: object, text: str) -> object:
    if hint is int or hint == int | None:
        number = payload_number(text)
        return _UNREADABLE if number is None else number
    if typing.get_origin(hint) is Literal:
        return text if text in typing.get_args(hint) else _UNREADABLE
    return text


def kind_of(data: str | None) -> str:
    """The prefix a payload starts with, which tells the router its handler: "alert:ack:12" -> "alert"."""
    return (data or "").split(":", 1)[0]


# --- the kinds -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepAnswer(Payload, prefix="s"):
    """A button answering a step of the conversation the person is in: s:<step>:<value>."""
    step: str
    value: str


@dataclass(frozen=True)
class AlertPress(Payload, prefix="alert"):
    """Đã tiếp nhận / Đã xử lý on an alert in a staff group: alert:ack:12, alert:done:12."""
    action: Literal["ack", "done"]
    alert_id: int


@dataclass(frozen=True)
class RequestPress(Payload, prefix="req"):
    """Trả lời / Đã xong on a help request: req:answer:7, req:done:7."""
    action: Literal["answer", "done"]
    request_id: int


@dataclass(frozen=True)
class DeletionPress(Payload, prefix="del"):
    """A person asking for erasure (del:ask:0), the station confirming or refusing it (del:ok:3, del:no:3)."""
    action: Literal["ask", "ok", "no"]
    request_id: int


@dataclass(frozen=True)
class Go(Payload, prefix="go"):
    """A shortcut: go:checkin (for whom is asked), go:checkin:12, go:household, go:register."""
    target: Literal["checkin", "household", "register"]
    person_id: int | None = None


@dataclass(frozen=True)
class DistressPress(Payload, prefix="sos"):
    """«Báo trạm y tế ngay» under the danger advice: sos:12 alerts the station about person 12 (if the account's)."""
    person_id: int


@dataclass(frozen=True)
class LanguagePick(Payload, prefix="lang"):
    """lang:vi, lang:en: the catalog is checked by the handler, as catalogs come and go with their files."""
    lang: str


@dataclass(frozen=True)
class ListPage(Payload, prefix="list"):
    """A page of a station list, or its menu: list:<kind>:<page>:<scope>, scope a station id or "p"."""
    kind: str
    page: int
    scope: str


@dataclass(frozen=True)
class AlertsPage(Payload, prefix="alerts"):
    """The next page of open alerts: alerts:<scope>:<page>."""
    scope: str
    page: int


@dataclass(frozen=True)
class CardOpen(Payload, prefix="card"):
    """A person's card: card:12."""
    person_id: int


@dataclass(frozen=True)
class CardAction(Payload, prefix="pa"):
    """An action on a person's card: pa:<action>:<person>[:<value>], e.g. pa:cat:12:f1."""
    action: str
    person_id: int
    value: str = ""
