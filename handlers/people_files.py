"""Lists in and out through the chat: the import template (/maunhap), an imported list sent as a document,
and the station's Excel file (/xuat). `run_export` is shared with the `cachly` CLI, whose import is
`import_in_batches` (the bot's, `run_import`)."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Attachment, Reply
from chat.text import fold
from conversations.access import actor, refuse, require
from conversations.registry import current_question
from conversations.runtime import Context, Refused
from services import spreadsheets
from services.env import Core
from storage.audit import record
from storage.invitations import VALID_FOR
from storage.models import Station
from storage.outbox import post
from storage.roles import ADMIN, PROVINCE, STAFF, Access
from storage.stations import find_stations, get_station

TEMPLATE_FILE = "mau-nhap-danh-sach.xlsx"
# In the chat, within Telegram's 4096 characters a message; every rejected row is in the result file.
SHOWN_REJECTIONS = 15
REASONS_SHOWN = 160  # characters of one row's reasons
# Rows per transaction of the CLI's import: SQLite has one writer, held for well under a second by each batch.
IMPORT_BATCH = 500
# A list larger than this (about 3,000 rows, a second's work) is imported after its update is answered: the
# channel handles updates one at a time, and a 20,000-row list takes several seconds everyone else would wait.
BACKGROUND_BYTES = 128 * 1024
RUNNING: set[asyncio.Task] = set()  # the imports in the background (the loop keeps only weak references)
log = logging.getLogger(__name__)


# --- shared with the CLI -------------------------------------------------------------------------------


async def run_import(session: AsyncSession, core: Core, file_name: str, content: bytes, who: str,
                     default_station: Station | None, only_station_id: int | None) -> spreadsheets.ImportResult:
    """Check the rows, write one invitation per accepted row, and record the run (counts only)."""
    checker = await spreadsheets.checker_for(session, core.rules, core.today(), core.utcnow(), default_station,
                                          only_station_id)
    result = await spreadsheets.import_people(session, checker, file_name, content, who, core.utcnow())
    _record_import(session, core, who, default_station, result)
    return result


def _record_import(session: AsyncSession, core: Core, who: str, default_station: Station | None,
                   result: spreadsheets.ImportResult) -> None:
    record(session, who, "import.run", "import", default_station.code if default_station else None,
           after={**result.counts(), "stations": sorted({a.data["station_code"] for a in result.accepted})},
           at=core.utcnow())


async def import_in_batches(core: Core, file_name: str, content: bytes, who: str, default_station: Station | None,
                            progress: spreadsheets.Progress | None = None) -> spreadsheets.ImportResult:
    """The CLI's import (any station): like run_import, with each IMPORT_BATCH rows checked and invited in a
    transaction of their own, so that the bot and another import running meanwhile never wait long for SQLite's
    write lock."""
    started, now = time.monotonic(), core.utcnow()
    async with core.db.session() as session:
        checker = await spreadsheets.checker_for(session, core.rules, core.today(), now, default_station, None)
    table = await asyncio.to_thread(spreadsheets.read_list, file_name, content)
    result = spreadsheets.ImportResult(header=table.header)
    for start in range(0, len(table.body), IMPORT_BATCH):
        async with core.db.session() as session:
            part = await spreadsheets.import_batch(session, checker, table, table.body[start:start + IMPORT_BATCH],
                                                   who, now)
        result.add(part)
        if progress is not None:
            progress(min(start + IMPORT_BATCH, len(table.body)), len(table.body))
    async with core.db.session() as session:
        _record_import(session, core, who, default_station, result)
    result.seconds = time.monotonic() - started
    return result


@dataclass
class Export:
    content: bytes
    file_name: str
    people: int
    declarations: int


async def run_export(session: AsyncSession, core: Core, who: str, station: Station | None, file_format: str,
                     lang: str) -> Export:
    """The line list (and, as .xlsx, every declaration) of one station or of the province (None)."""
    station_ids = None  # the province
    if station is not None:
        assert station.id is not None  # read from the database
        station_ids = [station.id]
    lines = await spreadsheets.line_list(session, station_ids)
    if file_format == "csv":
        content = spreadsheets.export_csv(lang, lines, core.tz)
    else:  # in a thread: a province's file takes a moment to write, and other chats must get their answers
        content = await asyncio.to_thread(spreadsheets.export_workbook, lang, lines, core.rules, core.tz)
    scope = station.code if station else "province"
    record(session, who, "export.run", "export", scope, at=core.utcnow(),
           after={"format": file_format, "people": len(lines.people), "declarations": len(lines.declarations)})
    name = f"cachly-{station.code if station else 'toan-tinh'}-{core.today():%Y%m%d}.{file_format}"
    return Export(content, name, len(lines.people), len(lines.declarations))


# --- /maunhap -------------------------------------------------------------------------------------------


async def template(ctx: Context) -> list[Reply]:
    """/maunhap, /template: the .xlsx to fill in, with a sheet explaining each column."""
    await require(ctx, ADMIN, STAFF)
    content = spreadsheets.template_workbook(ctx.lang, ctx.core.rules, ctx.today())
    return [Reply(ctx.t("files.template_caption"), document=Attachment(TEMPLATE_FILE, content, spreadsheets.XLSX_MIME))]


# --- an imported list -----------------------------------------------------------------------------------


async def receive_document(ctx: Context) -> list[Reply]:
    """A document in private chat: a list of people to invite, from staff (their station) or an admin."""
    inc = ctx.incoming
    try:
        granted = await require(ctx, ADMIN, STAFF, what="import")
    except Refused as refused:  # e.g. a person sending a file mid-registration: their question again
        return [*refused.replies, *await current_question(ctx)]
    if inc.document_too_large or inc.document is None:
        return [Reply(ctx.t("files.too_large"))]
    document = inc.document
    if spreadsheets.spreadsheet_kind(document.file_name, document.content) is None:
        return [Reply(ctx.t("upload.file.not_spreadsheet"))]
    default = await _default_station(ctx, granted)
    only_station_id = granted.station_id if granted.role == STAFF else None
    if len(document.content) > BACKGROUND_BYTES:
        task = asyncio.create_task(_import_in_background(ctx, document, default, only_station_id))
        RUNNING.add(task)
        task.add_done_callback(RUNNING.discard)
        return [Reply(ctx.t("files.import_started"))]
    # SQLite has one writer, and a big list takes seconds to read and its files back seconds to write, during
    # which the outbox, the scheduler and everyone's updates must be able to write: what this update wrote
    # before (its processed-update record) is committed first, the invitations and their audit as soon as written.
    await ctx.session.commit()
    try:
        result = await run_import(ctx.session, ctx.core, document.file_name, document.content, actor(ctx), default,
                                  only_station_id)
    except spreadsheets.FileProblem as problem:
        return [Reply(ctx.t(problem.key, **problem.params))]
    await ctx.session.commit()
    return await import_replies(ctx, result)


async def _import_in_background(ctx: Context, document: Attachment, default: Station | None,
                                only_station_id: int | None) -> None:
    """A big list, once its update is answered: in sessions of its own, its answers sent through the outbox.
    A restart meanwhile loses it before anything is written (the staff member sends the file again)."""
    core, inc = ctx.core, ctx.incoming
    try:
        async with core.db.session() as session:
            result = await run_import(session, core, document.file_name, document.content, actor(ctx), default,
                                      only_station_id)
        replies = await import_replies(ctx, result)
    except spreadsheets.FileProblem as problem:
        replies = [Reply(ctx.t(problem.key, **problem.params))]
    except Exception as exc:  # noqa: BLE001 - the staff member must hear of it; the log gets the type only
        log.error("an import in the background failed: %s", type(exc).__name__)
        replies = [Reply(ctx.t("common.error"))]
    try:
        async with core.db.session() as session:
            for reply in replies:
                post(session, inc.channel, inc.chat_id, reply, core.utcnow())
    except Exception as exc:  # noqa: BLE001 - nothing else would report it
        log.error("the answers of an import in the background were not queued: %s", type(exc).__name__)
        return
    core.outbox_ready.set()


async def _default_station(ctx: Context, granted: Access) -> Station | None:
    """Staff import into their station; an admin may name one in the file's caption (else each row's Mã trạm)."""
    if granted.role == STAFF:
        return await ctx.session.get(Station, granted.station_id)
    for word in (ctx.incoming.text or "").split():
        station = await get_station(ctx.session, word)
        if station is not None and station.active:
            return station
    return None


async def import_replies(ctx: Context, result: spreadsheets.ImportResult) -> list[Reply]:
    lines = [ctx.t("files.import_result", accepted=len(result.accepted), rejected=len(result.rejected),
                   empty=result.empty, seconds=f"{result.seconds:.1f}")]
    for item in result.rejected[:SHOWN_REJECTIONS]:
        reasons = spreadsheets.reason_text(ctx.lang, item.reasons)
        shown = reasons if len(reasons) <= REASONS_SHOWN else reasons[:REASONS_SHOWN - 1] + "…"
        lines.append(ctx.t("files.rejected_row", row=item.row, reasons=shown))
    if len(result.rejected) > SHOWN_REJECTIONS:
        lines.append(ctx.t("files.rejected_more", count=len(result.rejected) - SHOWN_REJECTIONS))
    if result.accepted:
        lines.append(ctx.t("files.links_hint", days=VALID_FOR.days))
    replies = [Reply("\n".join(lines))]
    day = f"{ctx.today():%Y%m%d}"
    if result.rejected:
        content = await asyncio.to_thread(spreadsheets.rejected_workbook, ctx.lang, result)
        replies.append(Reply(ctx.t("files.result_caption", count=len(result.rejected)),
                             document=Attachment(f"ket-qua-nhap-{day}.xlsx", content, spreadsheets.XLSX_MIME)))
    if result.accepted:
        content = await asyncio.to_thread(spreadsheets.links_workbook, ctx.lang, result, ctx.core.bot_username,
                                          ctx.core.tz, ctx.core.utcnow())
        replies.append(Reply(ctx.t("files.links_caption", count=len(result.accepted)),
                             document=Attachment(f"lien-ket-moi-{day}.xlsx", content, spreadsheets.XLSX_MIME)))
    return replies


# --- /xuat ----------------------------------------------------------------------------------------------


async def export(ctx: Context) -> list[Reply]:
    """/xuat, /export: staff get their station's file; admins and province viewers the province's, or
    a station's with /xuat CODE."""
    granted = await require(ctx, ADMIN, PROVINCE, STAFF)
    station = await scope_station(ctx, granted, "export")
    if isinstance(station, list):
        return station
    done = await run_export(ctx.session, ctx.core, actor(ctx), station, "xlsx", ctx.lang)
    scope = station.label if station else ctx.t("files.province")
    caption = ctx.t("files.export_caption", scope=scope, people=done.people, declarations=done.declarations,
                    day=f"{ctx.today():%d/%m/%Y}")
    return [Reply(caption, document=Attachment(done.file_name, done.content, spreadsheets.XLSX_MIME))]


async def scope_station(ctx: Context, granted: Access, what: str) -> Station | list[Reply] | None:
    """The station a staff or admin command is about (None: the whole province), or the replies refusing it.
    Staff always get their own station; a station named in the command must be one the caller sees."""
    station = await station_asked(ctx, ctx.incoming.command[1] if ctx.incoming.command else [])
    if isinstance(station, list):
        return station
    if station is None and granted.role == STAFF:
        station = await ctx.session.get(Station, granted.station_id) if granted.station_id else None
        if station is None:
            return await refuse(ctx, what)
    if station is not None and not granted.sees(station.id):
        return await refuse(ctx, what)
    return station


async def station_asked(ctx: Context, args: list[str]) -> Station | list[Reply] | None:
    """The station a command names by code or by name (None: none named); a clear answer if it is unknown."""
    if not args:
        return None
    query = " ".join(args)
    station = await get_station(ctx.session, query)
    if station is not None:
        return station
    found = await find_stations(ctx.session, query, limit=5)
    exact = [s for s in found if fold(query) in (fold(s.name), fold(s.full_name))]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0]
    if found:  # "quy nhon": Quy Nhơn, Quy Nhơn Bắc, … — the code settles it
        names = ", ".join(f"{s.name} ({s.code})" for s in found)
        return [Reply(ctx.t("files.station_pick", query=query[:50], stations=names))]
    return [Reply(ctx.t("files.station_unknown", query=query[:50]))]
