"""The `cachly` command: run the bot, try it in the terminal sandbox, manage the database and stations.

Problems an operator can fix (a bad setting, a missing file, an unknown station) end as ONE line on
stderr and exit code 2, never a traceback. `station bind-code` and `station staff-code` print only the
code on stdout so scripts can capture it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import logs
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from services.env import Core
    from storage.models import Station

T = TypeVar("T")
USAGE_ERROR = 2


class CliError(Exception):
    """A problem the operator can fix; the message is one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cachly", description="Home-quarantine follow-up chatbot.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the Telegram bot (needs CACHLY_TELEGRAM_TOKEN); long polling by default")
    run.add_argument("--webhook", metavar="URL", help="receive updates by webhook at this public https URL")
    run.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:8443",
                     help="where the webhook server listens (default 127.0.0.1:8443, behind a TLS proxy)")
    backup = sub.add_parser("backup", help="a consistent copy of the SQLite database, while the bot runs")
    backup.add_argument("file", type=Path)
    sub.add_parser("purge", help="anonymise personal data whose retention period is over (also done daily)")
    sub.add_parser("sandbox", help="talk to the bot in this terminal, no Telegram needed")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply all migrations")

    station = sub.add_parser("station", help="health stations").add_subparsers(
        dest="station_command", required=True
    )
    imp = station.add_parser("import", help="import units from a CSV (code,name,full_name,type,...)")
    imp.add_argument("file", type=Path)
    add = station.add_parser("add", help="add one station")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--full-name", default="")
    add.add_argument("--type", dest="unit_type", default="")
    add.add_argument("--parent", dest="parent_code", default=None)
    bind = station.add_parser("bind-code", help="print a one-time code that binds a staff group")
    bind.add_argument("code")
    bind.add_argument("--hours", type=float, default=24.0, help="validity (default 24)")
    staff = station.add_parser("staff-code", help="print a one-time code that makes its user staff of a station")
    staff.add_argument("code")
    staff.add_argument("--hours", type=float, default=24.0, help="validity (default 24)")
    phone = station.add_parser("phone", help="set the phone number people are told to call")
    phone.add_argument("code")
    phone.add_argument("phone", help="e.g. 0269 3823 456 or 0912 345 678")

    audit = sub.add_parser("audit", help="print the audit trail of a person or an alert")
    subject = audit.add_mutually_exclusive_group(required=True)
    subject.add_argument("--person", type=int, metavar="ID", help="a person, with their alerts and requests")
    subject.add_argument("--alert", type=int, metavar="ID", help="one alert")
    people_in = sub.add_parser("import", help="invite the people of an .xlsx or .csv list (columns: see README)")
    people_in.add_argument("file", type=Path)
    people_in.add_argument("--station", metavar="CODE", help="the station of rows without a Mã trạm")
    people_in.add_argument("--bot", metavar="USERNAME", help="the bot's username for the links (default: asked)")
    people_in.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of the reasons and files")
    people_out = sub.add_parser("export", help="write the line list of a station or of the whole province")
    scope = people_out.add_mutually_exclusive_group(required=True)
    scope.add_argument("--station", metavar="CODE")
    scope.add_argument("--province", action="store_true")
    people_out.add_argument("--format", choices=("xlsx", "csv"), default="xlsx", help="csv: the line list only")
    people_out.add_argument("--output", type=Path, metavar="FILE")
    people_out.add_argument("--lang", choices=("vi", "en"), default="vi")
    return parser


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# --- database commands ------------------------------------------------------------------------------


def _database_error(exc: BaseException) -> CliError:
    # The URL may hold a password: name the variable, never print its value.
    lines = str(exc).strip().splitlines()
    return CliError(
        f"CACHLY_DATABASE_URL: cannot use the database: {lines[0] if lines else type(exc).__name__}"
    )


async def _upgrade(settings: Settings) -> None:
    from storage.migrate import upgrade

    try:
        await upgrade(settings.database_url)
    except (DBAPIError, OSError) as exc:
        raise _database_error(exc) from None


async def _with_session(settings: Settings, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Upgrade the schema (quietly), then run `action` in one committed session."""
    from storage.db import Database

    await _upgrade(settings)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            return await action(session)
    except (DBAPIError, OSError) as exc:
        raise _database_error(exc) from None
    finally:
        await db.dispose()


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_upgrade(settings))
    print("database schema is up to date")
    return 0


def _station_import(settings: Settings, args: argparse.Namespace) -> int:
    from storage.stations import import_units_csv

    path: Path = args.file
    if not path.is_file():
        raise CliError(f"{path}: file not found")
    try:
        result = asyncio.run(_with_session(settings, lambda s: import_units_csv(s, path)))
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    except ValueError as exc:  # wrong header
        raise CliError(str(exc)) from None
    for reason in result.skipped:
        _err(f"skipped {reason}")
    print(f"stations: {result.created} created, {result.updated} updated, {len(result.skipped)} skipped")
    return 0


def _station_add(settings: Settings, args: argparse.Namespace) -> int:
    from storage.stations import add_station

    async def add(session: AsyncSession) -> str:
        station = await add_station(
            session, args.code, args.name, args.full_name, args.unit_type, args.parent_code
        )
        return f"station {station.code} {station.name} added"

    try:
        print(asyncio.run(_with_session(settings, add)))
    except ValueError as exc:  # duplicate code, empty name
        raise CliError(str(exc)) from None
    return 0


def _issue_code(settings: Settings, args: argparse.Namespace, issue: Callable, action: str) -> str:
    """Issue a one-time code for a station (or PROVINCE), recorded in the audit trail as done by the CLI."""
    from storage.audit import record
    from storage.stations import PROVINCE, code_key, get_station

    if args.hours <= 0:
        raise CliError("--hours must be positive")
    ttl = timedelta(hours=args.hours)

    async def issued(session: AsyncSession, core: Core) -> str:
        now = core.utcnow()
        code = await issue(session, args.code, now, ttl)
        station = None if args.code.upper() == PROVINCE else await get_station(session, args.code)
        record(session, "cli", action, "station", station.id if station else PROVINCE,
               after={"code": code_key(code), "expires_at": (now + ttl).isoformat()}, at=now)  # as stored
        return code

    try:
        return asyncio.run(_with_core(settings, issued))
    except ValueError as exc:  # unknown station
        raise CliError(str(exc)) from None


def _station_bind_code(settings: Settings, args: argparse.Namespace) -> int:
    from storage.stations import issue_bind_code

    print(_issue_code(settings, args, issue_bind_code, "binding.code"))
    _err(
        f"one-time code for station {args.code}, valid {args.hours:g} h: "
        "send '/lienket CODE' in the station's Telegram staff group"
    )
    return 0


def _station_staff_code(settings: Settings, args: argparse.Namespace) -> int:
    from storage.stations import issue_staff_code

    if args.code.upper() == "PROVINCE":
        raise CliError("a staff code is for one station: give its code (province viewers: /capquyen ID tinh)")
    print(_issue_code(settings, args, issue_staff_code, "staffcode.issue"))
    _err(
        f"one-time staff code for station {args.code}, valid {args.hours:g} h: "
        "the new staff member sends '/nhanvien CODE' to the bot in a private chat"
    )
    return 0


def _station_phone(settings: Settings, args: argparse.Namespace) -> int:
    """Set the station's phone, recorded in the audit trail as done by the CLI (as its codes are)."""
    from chat.parse import station_phone
    from storage.audit import record

    phone = station_phone(args.phone)
    if phone is None:
        raise CliError(f"{args.phone}: not a Vietnamese phone number (e.g. 0269 3823 456 or 0912 345 678)")

    async def set_phone(session: AsyncSession, core: Core) -> str:
        station = await _cli_station(session, args.code)
        assert station is not None  # a code was given
        record(session, "cli", "station.phone", "station", station.id, before={"phone": station.phone},
               after={"phone": phone}, at=core.utcnow())
        station.phone = phone
        session.add(station)
        return f"station {station.code} {station.name}: phone {phone}"

    print(asyncio.run(_with_core(settings, set_phone)))
    return 0


# --- audit ------------------------------------------------------------------------------------------


async def _audit_events(session: AsyncSession, args: argparse.Namespace) -> list:
    """The events of an alert, or of a person together with those of their alerts and requests."""
    from sqlalchemy import and_, or_
    from sqlmodel import col, select

    from storage.models import Alert, AuditEvent, HelpRequest

    subjects: list[tuple[str, Sequence[int | None]]]
    if args.alert is not None:
        subjects = [("alert", [args.alert])]
    else:
        alerts = (await session.exec(select(Alert.id).where(Alert.person_id == args.person))).all()
        requests = (await session.exec(select(HelpRequest.id).where(HelpRequest.person_id == args.person))).all()
        subjects = [("person", [args.person]), ("alert", alerts), ("request", requests)]
    matches = [and_(col(AuditEvent.entity) == entity, col(AuditEvent.entity_id).in_([str(i) for i in ids]))
               for entity, ids in subjects if ids]
    query = select(AuditEvent).where(or_(*matches)).order_by(col(AuditEvent.at), col(AuditEvent.id))
    return list((await session.exec(query)).all())


def _value(value: object) -> str:
    return "–" if value is None else str(value)


def _changes(before: dict | None, after: dict | None) -> str:
    """'status: open → acknowledged; by: Lan' — the fields that changed, or were set."""
    before, after = before or {}, after or {}
    parts = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        parts.append(f"{key}: {_value(old)} → {_value(new)}" if key in before else f"{key}: {_value(new)}")
    return "; ".join(parts)


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from storage.stations import as_utc

    events = asyncio.run(_with_session(settings, lambda s: _audit_events(s, args)))
    for event in events:
        at = as_utc(event.at).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        print("  ".join(part for part in (at, event.actor, event.action, f"{event.entity} {event.entity_id}",
                                          _changes(event.before, event.after)) if part))
    if not events:
        subject = f"person {args.person}" if args.alert is None else f"alert {args.alert}"
        _err(f"no audit events for {subject}")
    return 0


# --- people: import and export ----------------------------------------------------------------------


async def _with_core(settings: Settings, action: Callable[[AsyncSession, Core], Awaitable[T]]) -> T:
    """Like _with_session, with a core for the rules, the time zone and the clock."""
    from health.rules import load_rules
    from services.env import Core
    from storage.db import Database

    await _upgrade(settings)
    core = Core(Database(settings.database_url), load_rules(settings.rules_file, settings.rules_overrides()),
                settings.tz)
    try:
        async with core.db.session() as session:
            return await action(session, core)
    except (DBAPIError, OSError) as exc:
        raise _database_error(exc) from None
    finally:
        await core.db.dispose()


async def _cli_station(session: AsyncSession, code: str | None) -> Station | None:
    from storage.stations import get_station

    if not code:
        return None
    station = await get_station(session, code)
    if station is None or not station.active:
        raise CliError(f"unknown station {code}")
    return station


def _bot_username(settings: Settings, given: str | None) -> str:
    """The bot's @username for the links: given, or asked from Telegram with the bot's token."""
    if given:
        return given.lstrip("@")
    token = settings.telegram_token
    if not token:
        raise CliError("--bot: the bot's username is needed for the invitation links (or set CACHLY_TELEGRAM_TOKEN)")
    from telegram import Bot
    from telegram.error import TelegramError

    async def ask() -> str:
        async with Bot(token, base_url=settings.telegram_base_url) as bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except TelegramError as exc:
        raise CliError(f"CACHLY_TELEGRAM_TOKEN: cannot ask Telegram for the bot's name ({type(exc).__name__}); "
                       "pass --bot USERNAME") from None


def _write(path: Path, content: bytes) -> Path:
    """An export or an import's result file: personal data, so readable by its owner only (0600)."""
    from storage.files import write_private

    try:
        write_private(path, content)
    except OSError as exc:
        raise CliError(f"{path}: cannot write ({exc.strerror})") from None
    return path


def _import_people(settings: Settings, args: argparse.Namespace) -> int:
    """Invitations from a list, written a batch at a time; the links (and the rejected rows) written next to it;
    progress on stderr."""
    from handlers.people_files import import_in_batches
    from locales import t
    from services import spreadsheets

    path: Path = args.file
    if not path.is_file():
        raise CliError(f"{path}: file not found")
    if path.stat().st_size > spreadsheets.MAX_FILE_BYTES:  # refused before it is read into memory
        limit = spreadsheets.MAX_FILE_BYTES // (1024 * 1024)
        raise CliError(f"{path}: {t(args.lang, 'upload.file.too_big', max=limit)}")
    content = path.read_bytes()
    if spreadsheets.spreadsheet_kind(path.name, content) is None:
        raise CliError(f"{path}: {t(args.lang, 'upload.file.not_spreadsheet')}")
    bot = _bot_username(settings, args.bot)

    async def run(session: AsyncSession, core: Core) -> tuple[spreadsheets.ImportResult, bytes | None, bytes | None]:
        station = await _cli_station(session, args.station)
        result = await import_in_batches(core, path.name, content, "cli", station,
                                         lambda done, total: _err(f"{done}/{total} rows"))
        links = spreadsheets.links_workbook(args.lang, result, bot, core.tz, core.utcnow()) if result.accepted else None
        rejected = spreadsheets.rejected_workbook(args.lang, result) if result.rejected else None
        return result, links, rejected

    try:
        result, links, rejected = asyncio.run(_with_core(settings, run))
    except spreadsheets.FileProblem as problem:
        raise CliError(f"{path}: {t(args.lang, problem.key, **problem.params)}") from None
    print(f"{path.name}: {len(result.accepted)} accepted, {len(result.rejected)} rejected, {result.empty} empty "
          f"rows skipped ({result.seconds:.1f} s)")
    for item in result.rejected:  # reasons name columns and station codes, never a row's content
        print(f"row {item.row}: {spreadsheets.reason_text(args.lang, item.reasons)}")
    if links is not None:
        print(f"invitation links: {_write(path.with_name(f'{path.stem}-lien-ket-moi.xlsx'), links)}")
    if rejected is not None:
        print(f"rejected rows: {_write(path.with_name(f'{path.stem}-ket-qua.xlsx'), rejected)}")
    return 0


def _export_people(settings: Settings, args: argparse.Namespace) -> int:
    from handlers.people_files import Export, run_export

    async def run(session: AsyncSession, core: Core) -> Export:
        station = await _cli_station(session, args.station)
        return await run_export(session, core, "cli", station, args.format, args.lang)

    done = asyncio.run(_with_core(settings, run))
    output = _write(args.output or Path(done.file_name), done.content)
    print(f"{output}: {done.people} people, {done.declarations} declarations")
    return 0


# --- bot commands -----------------------------------------------------------------------------------


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.telegram_token:
        raise CliError(
            "CACHLY_TELEGRAM_TOKEN: not set (the bot token from @BotFather); `cachly sandbox` runs without it"
        )
    from bot.app import run_polling

    run_polling(settings, _webhook(settings, args))
    return 0


def _webhook(settings: Settings, args: argparse.Namespace):
    if not getattr(args, "webhook", None):
        return None
    from bot.app import Webhook

    if not args.webhook.startswith(("https://", "http://")):
        raise CliError(f"--webhook: '{args.webhook}' is not a URL such as https://bot.example.org/telegram")
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--listen: '{args.listen}' is not HOST:PORT such as 127.0.0.1:8443")
    secret = settings.webhook_secret
    if secret is None:  # fine for one process; several behind one URL must share CACHLY_WEBHOOK_SECRET
        secret = secrets.token_urlsafe(32)
    return Webhook(args.webhook, host, int(port), secret)


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from storage.backup import backup

    try:
        size = backup(settings.database_url, args.file)
    except (ValueError, FileNotFoundError, sqlite3.Error) as exc:
        raise CliError(f"backup: {exc}") from None
    print(f"{args.file}: {size} bytes")
    return 0


def _purge(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.purge import purge_expired, settle

    async def run(session: AsyncSession, core: Core) -> int:
        count = await purge_expired(session, core.today(), core.retention_days, core.utcnow())
        await session.commit()
        await settle(core.db.engine)  # a running bot keeps the write-ahead log open: its old pages go now
        return count

    print(f"anonymised: {asyncio.run(_with_core(settings, run))}")
    return 0


def _sandbox(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    asyncio.run(run_sandbox(settings))
    return 0


def _handler(args: argparse.Namespace, settings: Settings) -> Callable[[Settings, argparse.Namespace], int]:
    if args.command == "db":
        return _db_upgrade
    if args.command == "station":
        return {"import": _station_import, "add": _station_add, "bind-code": _station_bind_code,
                "staff-code": _station_staff_code, "phone": _station_phone}[args.station_command]
    commands = {"audit": _audit, "import": _import_people, "export": _export_people, "backup": _backup,
                "purge": _purge, "run": _run, "sandbox": _sandbox}
    return commands.get(args.command) or (_run if settings.telegram_token else _sandbox)


def _ignore_late_delivery(args: threading.ExceptHookArgs) -> None:
    """After a command failed on its database (e.g. a folder that does not exist), aiosqlite's thread may hand
    its last result to the event loop just closed, and fail there: nothing is lost, so no traceback under the
    command's one-line error. Any other failure of a thread is reported as usual."""
    if not (args.exc_type is RuntimeError and "Event loop is closed" in str(args.exc_value)):
        threading.__excepthook__(args)


def main(argv: list[str] | None = None) -> int:
    threading.excepthook = _ignore_late_delivery
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(settings.log_level)  # every command alike: the libraries' lines stay at WARNING
        return _handler(args, settings)(settings, args)
    except (SettingsError, CliError) as exc:
        _err(str(exc))
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
