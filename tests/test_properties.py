"""Property tests: every step of every flow, fed anything a chat can carry, answers clearly and keeps its place.

For each flow in handlers.dispatch.FLOWS (read when the tests are collected, so flows added later are
covered) the account is brought to each step through the real core; then hypothesis sends arbitrary text,
empty and very long messages, odd numbers, stray and forged buttons, commands out of place, junk contacts,
files and photos. Each answer must be a clear message within Telegram's limits, and a rejected input must
leave the flow on its step with the answers given so far.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.runtime import Flow
from handlers import dispatch
from services.env import Core
from tests.conftest import ChatDriver
from tests.factories import OTHER_GROUP
from tests.property_helpers import (
    ENTRIES,
    ErrorLog,
    Outcomes,
    Snapshot,
    World,
    account_id_of,
    answer_problems,
    any_input,
    battery,
    begin_directly,
    build_world,
    explore,
    given_strings,
    group_battery,
    outbox_problems,
    read_state,
    restore,
    shown,
    state_problems,
    watch_answers,
)

FLOW_NAMES = sorted(dispatch.FLOWS)
# Per flow; with the battery every step gets some 25 inputs in a few seconds. Raise it for a deeper search:
# CACHLY_PROPERTY_EXAMPLES=1000 python -m pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("CACHLY_PROPERTY_EXAMPLES", "40"))


@dataclass
class Prepared:
    """One flow in one database: who is in it, and each step's state to start an input from."""

    world: World
    flow: Flow
    driver: ChatDriver
    account_id: int
    steps: dict[str, Snapshot]
    elsewhere: ChatDriver  # the same user in a group where the flow was not begun
    outbox_id: int = 0
    failure: str | None = None  # of the battery: raised again by every example, so hypothesis sees it each time
    given: list[str] = field(default_factory=list)  # everything sent so far, which answers may quote


# The core fixture lives for one test function, across all its hypothesis examples: prepare once per core.
_prepared: WeakKeyDictionary[Core, Prepared] = WeakKeyDictionary()


@pytest.fixture
def db_url(tmp_path: Path):
    """A real SQLite file, in memory-backed /dev/shm where there is one: thousands of commits, none waits on a disk."""
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    yield f"sqlite+aiosqlite:///{directory / 'cachly.db'}"
    if directory != tmp_path:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> Outcomes:
    return watch_answers(monkeypatch)


@pytest.fixture
def errors():
    handler, logger = ErrorLog(), logging.getLogger("services.env")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def prepare(core: Core, flow_name: str, outcomes: Outcomes, errors: ErrorLog) -> Prepared:
    if core in _prepared:
        return _prepared[core]
    world, flow = await build_world(core), dispatch.FLOWS[flow_name]
    entry = ENTRIES.get(flow_name)
    driver = await entry(world) if entry is not None else await begin_directly(world, flow)
    assert driver is not None, f"{flow_name}: no actor of the test world can begin it"
    account_id = await account_id_of(core, driver)
    steps = await explore(core, driver, account_id, flow)
    missing = sorted(set(flow.steps) - set(steps))
    if entry is not None:
        assert not missing, f"{flow_name}: steps {missing} not reached: add an answer to property_helpers.HINTS"
    first = steps[flow.first] if flow.first in steps else next(iter(steps.values()))
    for step in missing:  # a flow without a known entry: its other steps are set directly
        steps[step] = Snapshot(flow.name, step, copy.deepcopy(first.data))
    elsewhere = ChatDriver(core, driver.user_id, chat_id=OTHER_GROUP, chat_type="group", name=driver.name)
    prepared = _prepared[core] = Prepared(world, flow, driver, account_id, steps, elsewhere)
    _, prepared.outbox_id = await outbox_problems(core, 0, [])
    try:
        for step in sorted(steps):
            for fields in battery(step, sorted(flow.steps)):
                await feed(prepared, step, fields, outcomes, errors)
            for fields in group_battery(step, steps[step].replies):
                await feed(prepared, step, fields, outcomes, errors, prepared.elsewhere)
    except AssertionError as exc:
        prepared.failure = str(exc)
    return prepared


async def feed(prepared: Prepared, step: str, fields: dict, outcomes: Outcomes, errors: ErrorLog,
               driver: ChatDriver | None = None) -> None:
    """Send one input with the account on `step` (from the flow's chat, or `driver`'s), and check the answer
    and the conversation's state."""
    driver = driver or prepared.driver
    core, before = driver.core, prepared.steps[step]
    await restore(core, prepared.account_id, before)
    outcomes.seen.clear()
    prepared.given += given_strings(fields)
    errors.lines.clear()
    try:
        replies = await driver.send(**fields)
    except Exception as exc:  # noqa: BLE001 - the property: Core.handle never raises
        pytest.fail(f"{before.flow}/{step} given {shown(fields)} in {driver.chat_type}: core.handle raised {exc!r}")
    after = await read_state(core, prepared.account_id)
    rejected = any(rejected for flow, name, rejected in outcomes.seen if (flow, name) == (before.flow, step))
    problems = answer_problems(replies, prepared.given, group=driver.chat_type != "private")
    problems += state_problems(before, after, fields, rejected, elsewhere=driver is not prepared.driver)
    queued, prepared.outbox_id = await outbox_problems(core, prepared.outbox_id, prepared.given)
    problems += queued
    assert not problems, (f"{before.flow}/{step} given {shown(fields)} in {driver.chat_type}: {problems}; "
                          f"logged: {errors.lines}; "
                          f"replies: {[r.text[:200] for r in replies]}")


@pytest.mark.parametrize("flow_name", FLOW_NAMES)
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
async def test_every_step_answers_any_input(core: Core, outcomes: Outcomes, errors: ErrorLog, flow_name: str,
                                            data: st.DataObject) -> None:
    prepared = await prepare(core, flow_name, outcomes, errors)
    if prepared.failure:
        pytest.fail(prepared.failure)
    step = data.draw(st.sampled_from(sorted(prepared.steps)), label="step")
    fields = data.draw(any_input(step, sorted(prepared.flow.steps)), label="input")
    in_group = data.draw(st.integers(0, 3), label="chat") == 0  # a quarter of the inputs from another group
    await feed(prepared, step, fields, outcomes, errors, prepared.elsewhere if in_group else None)
