"""The `cachly` command: run the bot, try it in the terminal sandbox, manage the database and stations.

Problems an operator can fix (a bad setting, a missing file, an unknown station) end as ONE line on
stderr and exit code 2, never a traceback. `station bind-code` prints only the code on stdout so
scripts can capture it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
USAGE_ERROR = 2


class CliError(Exception):
    """A problem the operator can fix; the message is one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cachly", description="Home-quarantine follow-up chatbot.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Telegram bot (needs CACHLY_TELEGRAM_TOKEN)")
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


def _station_bind_code(settings: Settings, args: argparse.Namespace) -> int:
    from storage.models import utcnow
    from storage.stations import issue_bind_code

    if args.hours <= 0:
        raise CliError("--hours must be positive")
    ttl = timedelta(hours=args.hours)
    try:
        code = asyncio.run(_with_session(settings, lambda s: issue_bind_code(s, args.code, utcnow(), ttl)))
    except ValueError as exc:  # unknown station
        raise CliError(str(exc)) from None
    print(code)
    _err(
        f"one-time code for station {args.code}, valid {args.hours:g} h: "
        "send '/lienket CODE' in the station's Telegram staff group"
    )
    return 0


# --- bot commands -----------------------------------------------------------------------------------


def _run(settings: Settings, _args: argparse.Namespace) -> int:
    if not settings.telegram_token:
        raise CliError(
            "CACHLY_TELEGRAM_TOKEN: not set (the bot token from @BotFather); `cachly sandbox` runs without it"
        )
    from bot.app import run_polling

    run_polling(settings)
    return 0


def _sandbox(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    asyncio.run(run_sandbox(settings))
    return 0


def _handler(args: argparse.Namespace, settings: Settings) -> Callable[[Settings, argparse.Namespace], int]:
    if args.command == "db":
        return _db_upgrade
    if args.command == "station":
        return {"import": _station_import, "add": _station_add, "bind-code": _station_bind_code}[
            args.station_command
        ]
    if args.command == "run":
        return _run
    if args.command == "sandbox":
        return _sandbox
    return _run if settings.telegram_token else _sandbox


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        return _handler(args, settings)(settings, args)
    except (SettingsError, CliError) as exc:
        _err(str(exc))
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
