"""Button payloads: one codec for every kind, typed on the way back, refusing what it cannot read."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from chat.messages import Incoming
from chat.payloads import (
    MAX_BYTES,
    AlertPress,
    AlertsPage,
    CardAction,
    CardOpen,
    DeletionPress,
    DistressPress,
    Go,
    LanguagePick,
    ListPage,
    Payload,
    RequestPress,
    StepAnswer,
    kind_of,
)
from conversations.access import may_act_on_station
from conversations.runtime import Context
from handlers.dispatch import BUTTONS
from handlers.pipeline import handle
from locales import t
from services.env import Core
from storage.models import Account, Station

KINDS = (StepAnswer, AlertPress, RequestPress, DeletionPress, Go, LanguagePick, ListPage, AlertsPage, CardOpen,
         CardAction, DistressPress)
ids = st.integers(min_value=0, max_value=999_999_999)  # the largest number a payload carries (9 digits)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)


def test_every_kind_has_its_own_prefix_and_the_router_knows_every_button_kind() -> None:
    prefixes = [kind.prefix for kind in KINDS]
    assert len(set(prefixes)) == len(prefixes) and all(prefixes)
    # Step answers go to the conversation they belong to; every other kind has its handler.
    assert set(BUTTONS) == set(prefixes) - {StepAnswer.prefix}
    assert set(Payload.__subclasses__()) == set(KINDS)


@given(action=st.sampled_from(["ack", "done"]), alert_id=ids)
def test_an_alert_press_comes_back_as_it_was_written(action: str, alert_id: int) -> None:
    payload = AlertPress(action, alert_id)  # type: ignore[arg-type]
    assert AlertPress.parse(payload.encode()) == payload
    assert len(payload.encode().encode()) <= MAX_BYTES


@given(kind=words, page=ids, scope=st.one_of(st.just("p"), ids.map(str)), person=ids, value=words)
def test_list_card_and_step_payloads_round_trip_within_64_bytes(kind: str, page: int, scope: str, person: int,
                                                               value: str) -> None:
    for payload in (ListPage(kind, page, scope), AlertsPage(scope, page), CardOpen(person),
                    CardAction(kind, person, value), CardAction(kind, person), StepAnswer(kind, value),
                    RequestPress("answer", person), DeletionPress("ok", person), Go("checkin", person)):
        text = payload.encode()
        assert len(text.encode()) <= MAX_BYTES, text
        assert type(payload).parse(text) == payload
        assert kind_of(text) == payload.prefix


def test_optional_fields_left_empty_are_not_written() -> None:
    assert Go("checkin").encode() == "go:checkin"
    assert Go.parse("go:checkin") == Go("checkin", None)
    assert CardAction("rev", 12).encode() == "pa:rev:12"
    assert CardAction.parse("pa:cat:12:f1") == CardAction("cat", 12, "f1")


def test_a_step_value_may_hold_colons() -> None:
    assert StepAnswer.parse("s:station:a:b") == StepAnswer("station", "a:b")


@pytest.mark.parametrize(("kind", "data"), [
    (DeletionPress, "del:ok:²"),  # isdigit() says yes, int() raises: this once crashed the handler
    (DeletionPress, "del:ok:-1"),
    (DeletionPress, "del:ok"),
    (DeletionPress, "del:zz:1"),
    (DeletionPress, "del:ok:1:2"),
    (AlertPress, "alert:ack:99999999999999999999"),
    (AlertPress, "alerts:ack:1"),
    (RequestPress, "req:answer:abc"),
    (CardOpen, "card:"),
    (CardOpen, "card"),
    (CardAction, "pa::"),
    (CardAction, "pa:ext:²"),
    (ListPage, "list:abn:²:p"),
    (AlertsPage, "alerts:p:"),
    (Go, "go:elsewhere"),
    (LanguagePick, "lang"),
    (StepAnswer, "s:"),
    (CardOpen, ""),
    (CardOpen, None),
])
def test_a_forged_or_broken_payload_is_refused_not_half_read(kind: type[Payload], data: str | None) -> None:
    assert kind.parse(data) is None


def test_a_payload_over_telegrams_64_bytes_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        StepAnswer("station", "x" * 70).encode()


def test_every_kind_is_a_frozen_dataclass() -> None:
    for kind in KINDS:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen  # type: ignore[attr-defined]


async def test_a_forged_erasure_confirmation_gets_the_stale_button_answer_not_an_error(core: Core) -> None:
    replies = await handle(core, Incoming(channel="telegram", user_id="301", chat_id="-500", chat_type="group",
                                          button="del:ok:²", message_id="9"))
    assert [r.text for r in replies] == [t("vi", "common.stale_button")]
    assert replies[0].toast


async def test_the_sandbox_console_may_act_on_every_station_and_a_stranger_on_none(core: Core) -> None:
    core.staff_console = ("sandbox", "console")
    async with core.db.session() as session:
        station = (await session.exec(select(Station))).first()
        assert station is not None and station.id is not None
        for user, allowed in (("console", True), ("stranger", False)):
            account = Account(channel="sandbox", external_id=user, language="vi", created_at=core.utcnow())
            session.add(account)
            await session.flush()
            inc = Incoming(channel="sandbox", user_id=user, chat_id=user)
            ctx = Context(session=session, account=account, core=core, incoming=inc)
            assert await may_act_on_station(ctx, station.id) is allowed
