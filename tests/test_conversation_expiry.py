"""Abandoned conversations expire: a state untouched for 24 hours is deleted with what was typed into it, and the
person is told once (scheduler/expiry.py), on the test clock."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from locales import t
from scheduler.expiry import expiry_round
from services.env import Core
from storage.models import Account, ConversationState
from tests.conftest import ChatDriver, Clock
from tests.factories import GROUP, TODAY, add_person, at, group_chat, sent_to, texts, tick

EXPIRED_VI = t("vi", "conversation.expired")


async def state_of(core: Core, external_id: str) -> ConversationState | None:
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.external_id == external_id))).one()
        return await session.get(ConversationState, account.id)


async def half_registered(chat: ChatDriver) -> None:
    """Consent given, the name and the phone typed, then nothing more."""
    await chat.say("/start")
    await chat.press("Đồng ý")
    await chat.say("Nguyễn Thị Bỏ Dở")
    await chat.say("1975")
    await chat.press("Nữ")
    await chat.say("0987 654 321")
    state = await state_of(chat.core, chat.user_id)
    assert state is not None and state.flow == "registration" and "Bỏ Dở" in str(state.data), state


async def test_a_half_typed_registration_is_deleted_after_a_day_and_the_person_told_once(
        core: Core, chat: ChatDriver, clock: Clock) -> None:
    clock.set_local(at(9, 0))
    await half_registered(chat)

    assert (await tick(core, clock, at(8, 59, TODAY + timedelta(days=1))))["expiry"] == 0  # 23 h 59: kept
    assert await state_of(core, "100") is not None

    assert (await tick(core, clock, at(9, 1, TODAY + timedelta(days=1))))["expiry"] == 1
    assert await state_of(core, "100") is None
    assert texts(await sent_to(core, "100")) == [EXPIRED_VI]

    await tick(core, clock, at(9, 30, TODAY + timedelta(days=1)))  # a later tick, or a restart: told once only
    assert texts(await sent_to(core, "100")) == [EXPIRED_VI]

    await chat.say("Nguyễn Thị Bỏ Dở")  # typed into nothing: the registration starts again from the beginning
    assert "Bỏ Dở" not in chat.text()
    await chat.say("/start")
    assert "Đồng ý" in [b.label for b in chat.buttons()], chat.text()


async def test_an_answer_keeps_the_conversation_another_day(core: Core, chat: ChatDriver, clock: Clock) -> None:
    clock.set_local(at(9, 0))
    await half_registered(chat)
    clock.set_local(at(8, 0, TODAY + timedelta(days=1)))
    await chat.press("Bỏ qua")  # the next question (the CCCD) answered: touched again

    assert (await tick(core, clock, at(10, 0, TODAY + timedelta(days=1))))["expiry"] == 0
    state = await state_of(core, "100")
    assert state is not None and "Bỏ Dở" in str(state.data)
    assert (await tick(core, clock, at(8, 1, TODAY + timedelta(days=2))))["expiry"] == 1


async def test_the_message_is_in_the_persons_language(core: Core, clock: Clock) -> None:
    clock.set_local(at(9, 0))
    english = ChatDriver(core, "101", language_code="en")
    await english.say("/start")
    await english.press(english.buttons()[0].label)  # consent, in English
    await english.say("Trần Văn English")

    await tick(core, clock, at(9, 1, TODAY + timedelta(days=1)))
    assert texts(await sent_to(core, "101")) == [t("en", "conversation.expired")]
    assert t("en", "conversation.expired") != EXPIRED_VI


async def test_an_unreachable_or_anonymised_account_is_only_deleted(core: Core, clock: Clock) -> None:
    clock.set_local(at(9, 0))
    chats = {user: ChatDriver(core, user) for user in ("102", "103")}
    for driver in chats.values():
        await half_registered(driver)
    async with core.db.session() as session:
        for user, change in (("102", "unreachable"), ("103", "anonymised")):
            account = (await session.exec(select(Account).where(Account.external_id == user))).one()
            if change == "unreachable":
                account.unreachable_at, account.unreachable_reason = core.utcnow(), "Forbidden: blocked"
            else:
                account.external_id = f"anon-{account.id}"
            session.add(account)

    assert (await tick(core, clock, at(9, 1, TODAY + timedelta(days=1))))["expiry"] == 0
    async with core.db.session() as session:
        assert (await session.exec(select(ConversationState))).all() == []
    assert await sent_to(core, "102") == []


async def test_a_flow_begun_in_a_group_is_deleted_without_a_word(core: Core, clock: Clock) -> None:
    clock.set_local(at(9, 0))
    group = group_chat(core, "300")
    await group.say("/trogiup")  # the staff member's account, made by a message in the group
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.external_id == "300"))).one()
        assert account.id is not None
        session.add(ConversationState(account_id=account.id, flow="help_answer", step="text",
                                      data={"_chat": GROUP, "draft": "Trả lời dở dang"}, updated_at=core.utcnow()))

    await tick(core, clock, at(9, 1, TODAY + timedelta(days=1)))
    assert await state_of(core, "300") is None
    assert await sent_to(core, "300") == [] and await sent_to(core, GROUP) == []


async def test_a_check_in_is_left_to_its_own_half_hour_rule(core: Core, clock: Clock) -> None:
    """scheduler/abandoned.py saves a check-in as a partial declaration: the day-long expiry never takes one."""
    clock.set_local(at(9, 0))
    person = await add_person(core, "Phạm Thị Khai", "104")
    async with core.db.session() as session:
        session.add(ConversationState(account_id=person.account_id, flow="checkin", step="temperature",
                                      data={"_chat": "104"}, updated_at=core.utcnow() - timedelta(days=2)))
        assert await expiry_round(session, core, core.now()) == 0
    assert await state_of(core, "104") is not None
