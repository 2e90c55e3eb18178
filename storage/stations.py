"""Station repository: import of administrative units, search, and group binding by one-time code.

Every function takes the caller's AsyncSession and never commits: `async with db.session()` does.
Datetimes are stored as aware UTC (storage.models.utcnow()); a naive `now` is taken as UTC.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.parse import station_phone
from chat.text import fold
from storage.models import BindCode, GroupBinding, StaffMember, Station

PROVINCE = "PROVINCE"  # `cachly station bind-code PROVINCE`: the province-level group
STATION_SCOPE, PROVINCE_SCOPE = "station", "province"
STAFF_SCOPE = "staff"  # a one-time code that makes its user staff of the station (/nhanvien)
CSV_COLUMNS = ("code", "name", "full_name", "type", "province_code", "province_name")  # and "phone", optional
BUNDLED_UNITS = "gia-lai-2025-units.csv"
# No 0/O or 1/I: codes are read aloud and typed on phones.
BIND_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
BIND_CODE_LENGTH = 8

_CODE_MAX = 32
_NAME_MAX = 200


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)  # "row N: reason", never the row's data


@dataclass
class BindResult:
    status: Literal["ok", "unknown", "used", "expired"]
    station: Station | None = None  # None for a province code
    scope: str = "station"


# --- import -----------------------------------------------------------------------------------------


def _read_units(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; ValueError naming the missing columns for a wrong header."""
    with path.open(encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: Excel adds a BOM
        reader = csv.DictReader(fh)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in CSV_COLUMNS if name not in header]
        if missing:
            raise ValueError(f"{path.name}: missing CSV column(s): {', '.join(missing)}")
        reader.fieldnames = header
        return [(reader.line_num, row) for row in reader]


def _row_problem(row: dict[str, str], seen: set[str]) -> str | None:
    code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
    if not code:
        return "empty code"
    if not name:
        return "empty name"
    if len(code) > _CODE_MAX or len(name) > _NAME_MAX:
        return "code or name too long"
    if code in seen:
        return "duplicate code"
    if (row.get("phone") or "").strip() and station_phone(row["phone"]) is None:
        return "phone not a Vietnamese number"
    return None


def _apply_row(station: Station, row: dict[str, str]) -> None:
    station.name = row["name"].strip()
    station.full_name = (row.get("full_name") or "").strip()
    station.unit_type = (row.get("type") or "").strip()
    station.parent_code = (row.get("province_code") or "").strip() or None
    station.search_key = fold(station.name)
    phone = station_phone(row.get("phone") or "")  # optional column: a row without one keeps the station's
    if phone:
        station.phone = phone


async def import_units_csv(session: AsyncSession, path: Path) -> ImportResult:
    """Create or update one station per unit; re-importing the same file creates nothing.

    An existing station keeps its `active` flag: deactivating one is an admin's decision.
    """
    rows = _read_units(Path(path))
    existing = {s.code: s for s in (await session.exec(select(Station))).all()}
    result, seen = ImportResult(), set[str]()
    for line, row in rows:
        problem = _row_problem(row, seen)
        if problem:
            result.skipped.append(f"row {line}: {problem}")
            continue
        code = row["code"].strip()
        seen.add(code)
        station = existing.get(code)
        if station is None:
            station = Station(code=code, name="")
            session.add(station)
            result.created += 1
        else:
            result.updated += 1
        _apply_row(station, row)
    await session.flush()
    return result


async def ensure_seeded(session: AsyncSession) -> int:
    """On an empty database, import the bundled Gia Lai 2025 units; returns how many were created."""
    if (await session.exec(select(Station.id).limit(1))).first() is not None:
        return 0
    bundled = resources.files("storage").joinpath("data", BUNDLED_UNITS)
    with resources.as_file(bundled) as path:
        return (await import_units_csv(session, path)).created


# --- stations ---------------------------------------------------------------------------------------


async def get_station(session: AsyncSession, code: str) -> Station | None:
    return (await session.exec(select(Station).where(Station.code == code.strip()))).first()


async def add_station(
    session: AsyncSession,
    code: str,
    name: str,
    full_name: str = "",
    unit_type: str = "",
    parent_code: str | None = None,
) -> Station:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise ValueError("station code and name must not be empty")
    if await get_station(session, code) is not None:
        raise ValueError(f"station {code} already exists")
    station = Station(
        code=code,
        name=name,
        full_name=full_name.strip(),
        unit_type=unit_type.strip(),
        parent_code=parent_code,
        search_key=fold(name),
    )
    session.add(station)
    await session.flush()
    return station


# --- search -----------------------------------------------------------------------------------------
# People name their place as they always have: old names from before the 1 July 2025 merger, with "xã"/"tp"
# in front, "qui" for "quy", a typo. The query and every name are reduced to the same search key first.

OLD_UNITS = "gia-lai-2025-old-units.csv"
SEARCH_LIMIT = 8  # buttons offered at once: more do not fit a phone's screen
# Words of the query that only say what kind of unit follows; no unit name contains them (checked on the data).
_UNIT_PREFIXES = ("tinh gia lai", "tinh binh dinh", "gia lai", "thanh pho", "thi xa", "thi tran", "tinh", "tp",
                  "tx", "tt", "huyen", "xa", "phuong")
_VOWELS = set("aeiouy")
_OLD_MARK = re.compile(r"\bcu\s*\)|\(\s*formerly\b")  # see _query_key
_OLD_WARD_PREFIXES = ("Phường ", "Xã ", "Thị trấn ", "Thị Trấn ")
_OLD_DISTRICT_PREFIXES = {"Thành Phố ": "TP ", "Thị Xã ": "TX ", "Huyện ": "huyện "}
_TYPO_MIN = 4  # shorter words allow no typo: "lu" one letter off is "la", "le", "lo"...


@dataclass(frozen=True)
class OldName:
    """An old commune or ward that a 2025 unit took over, as people still call it."""

    ward: str  # "Hoa Lư"
    district: str  # "TP Pleiku"
    key: str  # the ward's search key
    district_key: str


@dataclass
class StationHit:
    station: Station
    old: OldName | None = None  # the old unit whose name matched; None when the new name did
    show_district: bool = False  # another hit matched an old unit of the same name: the district tells them apart


@dataclass
class StationSearch:
    hits: list[StationHit]
    total: int  # every match, also those cut from hits

    @property
    def more(self) -> int:
        return self.total - len(self.hits)


def _canonical_word(word: str) -> str:
    # i and y spell the same sound after a consonant and in "qu": Quy/Qui Nhơn, Phù Mỹ/Mĩ, Kỳ/Kì.
    if word.endswith("y") and (len(word) == 1 or word[-2] not in _VOWELS or word.endswith("quy")):
        return word[:-1] + "i"
    return word


@functools.lru_cache(maxsize=4096)  # station names come back on every search
def search_key(text: str) -> str:
    """Folded (no accents, lower case), punctuation as spaces, i/y spelled one way."""
    bare = "".join(ch if ch.isalnum() else " " for ch in fold(text))
    return " ".join(_canonical_word(word) for word in bare.split())


def _query_key(text: str) -> str:
    """The search key of what a person typed, without the words that name a kind of unit ("xã", "tp"...).

    A button's label typed back ("Phường Pleiku (Hoa Lư cũ)", "... (formerly Hoa Lư)") loses its "cũ" and
    "formerly": Cừ and Cư An are names, so "cu" is dropped only before the closing bracket."""
    key = f" {search_key(_OLD_MARK.sub(' ', fold(text)))} "
    for prefix in _UNIT_PREFIXES:
        key = key.replace(f" {prefix} ", " ")
    return " ".join(key.split())


def _strip_prefix(name: str, prefixes: dict[str, str]) -> tuple[str, str]:
    for prefix, short in prefixes.items():
        if name.startswith(prefix):
            return name[len(prefix):], short
    return name, ""


def _old_name(ward: str, district: str) -> OldName:
    ward_name, _ = _strip_prefix(ward.strip(), dict.fromkeys(_OLD_WARD_PREFIXES, ""))
    district_name, kind = _strip_prefix(district.strip(), _OLD_DISTRICT_PREFIXES)
    return OldName(ward_name, kind + district_name, search_key(ward_name), search_key(district_name))


@functools.cache
def old_names() -> dict[str, tuple[OldName, ...]]:
    """The bundled old units by the code of the 2025 unit that took them over; read once per process."""
    by_code: dict[str, list[OldName]] = {}
    text = resources.files("storage").joinpath("data", OLD_UNITS).read_text(encoding="utf-8-sig")
    for row in csv.DictReader(text.splitlines()):
        by_code.setdefault(row["new_code"].strip(), []).append(_old_name(row["old_ward"], row["old_district"]))
    return {code: tuple(names) for code, names in by_code.items()}


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by at most one letter added, dropped, changed, or two neighbours swapped."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1:]
    swapped = i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    return a[i + 1:] == b[i + 1:] or swapped


def _word_in(word: str, key: str, fuzzy: bool) -> bool:
    if word in key:
        return True
    return fuzzy and len(word) >= _TYPO_MIN and any(_one_edit(word, token) for token in key.split())


def _starts_word(word: str, key: str, fuzzy: bool) -> bool:
    tokens = key.split()
    if any(token.startswith(word) for token in tokens):
        return True
    return fuzzy and len(word) >= _TYPO_MIN and any(_one_edit(word, token) for token in tokens)


def _glued(key: str) -> str:
    # "quynhon" typed without its space still finds "Quy Nhơn" (whose key is "qui nhon").
    return key.replace(" ", "").replace("y", "i")


def _rank(keys: tuple[str, ...], query: str, words: list[str], fuzzy: bool) -> int | None:
    """0 exact name, 1 name starts with the query, 2 every word starts a word, 3 other match; None: no match."""
    haystack = " ".join(keys)
    if not all(_word_in(w, haystack, fuzzy) for w in words) and _glued(query) not in _glued(keys[0]):
        return None
    if query in keys:
        return 0
    if any(key.startswith(query) for key in keys):
        return 1
    if all(_starts_word(w, haystack, fuzzy) for w in words):
        return 2
    return 3


_WINDOW_WORDS = 12  # a longer query is not split into a ward's name and its district: a sentence, not a place


def _old_rank(old: OldName, new_key: str, words: list[str], fuzzy: bool) -> int | None:
    """The old ward's rank when some words of the query name it and the others its old district or the new unit
    ("hoa lu pleiku", "Xã Phù Cát (Ngô Mây, huyện Phù Cát cũ)" typed back from a button)."""
    if len(words) > _WINDOW_WORDS or not any(_starts_word(w, old.key, fuzzy) for w in words):
        return None
    ranks = []
    for start, end in ((i, j) for i in range(len(words)) for j in range(i + 1, len(words) + 1)):
        name, rest = words[start:end], words[:start] + words[end:]
        if rest and _names_ward_in_district(old, new_key, name, rest, fuzzy):
            found = _rank((old.key,), " ".join(name), name, fuzzy)
            ranks += [] if found is None else [found]
    return min(ranks, default=None)


def _names_ward_in_district(old: OldName, new_key: str, name: list[str], rest: list[str], fuzzy: bool) -> bool:
    # Words start words here ("an" is not in Tam Quan of TX Hoài Nhơn), and one must name the ward alone:
    # "quy nhon" is not a search for Nhơn Châu of TP Quy Nhơn.
    around = f"{old.district_key} {new_key}"
    return (all(_starts_word(w, old.key, fuzzy) for w in name)
            and all(_starts_word(w, around, fuzzy) for w in rest)
            and any(not _starts_word(w, old.district_key, fuzzy) for w in name))


# rank; how: 0 the new name, 1 an old name, 2 an old name with its district; the old unit shown, if any
_Found = tuple[int, int, OldName | None]


def _search_rank(station: Station, query: str, words: list[str], fuzzy: bool = False) -> _Found | None:
    """How well the station's new name, or the best of its old ones, matches; None: none of them does."""
    new_key = search_key(station.name)
    new = _rank((new_key, search_key(station.full_name)), query, words, fuzzy)
    found: list[_Found] = [] if new is None else [(new, 0, None)]
    for old in old_names().get(station.code, ()):
        alone = _rank((old.key,), query, words, fuzzy)
        with_district = _old_rank(old, new_key, words, fuzzy)
        ranks = ([] if alone is None else [(alone, 1)]) + ([] if with_district is None else [(with_district, 2)])
        # "Xã Ia O (Ia O cũ)" would tell nothing: an old name equal to the new one is not shown.
        found += [(rank, how, None if old.key == new_key else old) for rank, how in ranks]
    return min(found, key=lambda item: item[:2], default=None)


def _mark_same_old_names(hits: list[StationHit]) -> None:
    counts: dict[str, int] = {}
    for hit in hits:
        if hit.old:
            counts[hit.old.key] = counts.get(hit.old.key, 0) + 1
    for hit in hits:
        hit.show_district = bool(hit.old and counts[hit.old.key] > 1)


async def search_stations(
    session: AsyncSession, query: str, limit: int = SEARCH_LIMIT, include_inactive: bool = False
) -> StationSearch:
    """Active stations (all for an admin's list) whose new or old name holds every word of the query.

    A typo (one letter off in a word of 4+ letters) is allowed only when nothing matches without one.
    Ranked in Python: a province has a few hundred stations and their old names at most.
    """
    key = _query_key(query)
    if not key or limit <= 0:
        return StationSearch([], 0)
    words = key.split()
    where = [] if include_inactive else [col(Station.active).is_(True)]
    stations = (await session.exec(select(Station).where(*where))).all()
    for fuzzy in (False, True):
        ranked = []
        for station in stations:
            found = _search_rank(station, key, words, fuzzy)
            if found is not None:
                ranked.append((found[0], found[1], search_key(station.name), station.code, station, found[2]))
        if ranked:
            break
    ranked.sort(key=lambda item: item[:4])
    hits = [StationHit(item[4], item[5]) for item in ranked[:limit]]
    _mark_same_old_names(hits)
    return StationSearch(hits, len(ranked))


async def find_stations(
    session: AsyncSession, query: str, limit: int = SEARCH_LIMIT, include_inactive: bool = False
) -> list[Station]:
    """The stations of search_stations, best first."""
    found = await search_stations(session, query, limit, include_inactive)
    return [hit.station for hit in found.hits]


def as_utc(moment: datetime) -> datetime:
    # sqlmodel's UTCDateTime refuses naive values; callers and tests may pass naive UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- group binding ----------------------------------------------------------------------------------


def normalize_bind_code(code: str) -> str:
    # People copy codes with spaces or dashes and in any case.
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_key(code: str) -> str:
    """What the database keeps of a one-time code (bind, staff, invitation): a hash of the normalized code.

    The code itself is shown once, when it is issued: a copy of the database or of a backup holds no code that
    still works. Plain SHA-256 without salt: the codes are random, one-time and short-lived, so there is no
    dictionary to precompute and no two people share one. A salt stored beside the hash would not slow an offline
    search of the 32^8 bind codes either; only a secret key kept out of the database (an HMAC pepper) would.
    The first 32 hex digits (128 bits) fit the existing VARCHAR(32) key columns: far more bits than the codes
    themselves carry, so a clash between two hashes stays as unlikely as between two codes."""
    return hashlib.sha256(normalize_bind_code(code).encode()).hexdigest()[:32]


async def _fresh_code(session: AsyncSession) -> str:
    while True:  # 32^8 codes: a clash is astronomically rare, but the primary key must stay unique
        code = "".join(secrets.choice(BIND_ALPHABET) for _ in range(BIND_CODE_LENGTH))
        if await session.get(BindCode, code_key(code)) is None:
            return code


async def issue_bind_code(
    session: AsyncSession, station_code: str, now: datetime, ttl: timedelta = timedelta(hours=24)
) -> str:
    """A code for a station's group, or for the province's group when station_code is PROVINCE."""
    province = station_code.upper() == PROVINCE
    station = None if province else await get_station(session, station_code)
    if station is None and not province:
        raise ValueError(f"unknown station {station_code}")
    now = as_utc(now)
    code = await _fresh_code(session)
    session.add(BindCode(code=code_key(code), station_id=station.id if station else None,
                         scope=PROVINCE_SCOPE if province else STATION_SCOPE, created_at=now, expires_at=now + ttl))
    await session.flush()
    return code


async def _claim(session: AsyncSession, key: str, chat_id: str, now: datetime) -> bool:
    """Mark the code (by its key, BindCode.code) used unless someone else did first (conditional UPDATE: safe
    across processes)."""
    claimed = await session.exec(
        update(BindCode)
        .where(col(BindCode.code) == key, col(BindCode.used_at).is_(None))
        .values(used_at=now, used_by_chat=chat_id)
    )
    return claimed.rowcount == 1


async def binding_of(session: AsyncSession, channel: str, chat_id: str) -> GroupBinding | None:
    """The station binding of a chat, if it is a bound group (a chat is bound to one station at most)."""
    query = select(GroupBinding).where(GroupBinding.channel == channel, GroupBinding.chat_id == chat_id)
    return (await session.exec(query)).first()


async def _bind_chat(
    session: AsyncSession, bind: BindCode, channel: str, chat_id: str, by: str, now: datetime
) -> None:
    binding = await binding_of(session, channel, chat_id)
    if binding is None:
        binding = GroupBinding(station_id=bind.station_id, channel=channel, chat_id=chat_id)
        session.add(binding)
    binding.station_id, binding.scope, binding.bound_by, binding.bound_at = bind.station_id, bind.scope, by, now
    await session.flush()


async def redeem_bind_code(
    session: AsyncSession, code: str, channel: str, chat_id: str, by: str, now: datetime
) -> BindResult:
    """Bind a chat to the code's station; a chat bound elsewhere moves to this station."""
    now = as_utc(now)
    bind = await session.get(BindCode, code_key(code))
    if bind is None or bind.scope == STAFF_SCOPE:  # a staff code is for a person, never for a group
        return BindResult("unknown")
    station = await session.get(Station, bind.station_id) if bind.station_id else None
    if bind.used_at is not None:
        return BindResult("used", station)
    if as_utc(bind.expires_at) <= now:
        return BindResult("expired", station)
    if not await _claim(session, bind.code, chat_id, now):
        return BindResult("used", station)
    await _bind_chat(session, bind, channel, chat_id, by, now)
    return BindResult("ok", station, bind.scope)


async def bound_chats(session: AsyncSession, station_id: int) -> list[GroupBinding]:
    query = select(GroupBinding).where(GroupBinding.station_id == station_id).order_by(col(GroupBinding.id))
    return list((await session.exec(query)).all())


# --- staff codes ------------------------------------------------------------------------------------


@dataclass
class StaffJoinResult:
    status: Literal["ok", "unknown", "used", "expired"]
    station: Station | None = None
    member: StaffMember | None = None


async def issue_staff_code(
    session: AsyncSession, station_code: str, now: datetime, ttl: timedelta = timedelta(hours=24)
) -> str:
    """A one-time code that makes whoever sends `/nhanvien CODE` in private staff of the station."""
    station = await get_station(session, station_code)
    if station is None:
        raise ValueError(f"unknown station {station_code}")
    now = as_utc(now)
    code = await _fresh_code(session)
    session.add(BindCode(code=code_key(code), station_id=station.id, scope=STAFF_SCOPE, created_at=now,
                         expires_at=now + ttl))
    await session.flush()
    return code


async def redeem_staff_code(
    session: AsyncSession, code: str, channel: str, user_id: str, name: str, now: datetime
) -> StaffJoinResult:
    """Make the user active staff of the code's station; staff of another station move to this one."""
    now = as_utc(now)
    bind = await session.get(BindCode, code_key(code))
    if bind is None or bind.scope != STAFF_SCOPE:  # a group's bind code does not make anyone staff
        return StaffJoinResult("unknown")
    station = await session.get(Station, bind.station_id)
    assert station is not None  # a staff code is issued for a station (issue_staff_code); the foreign key keeps it
    if bind.used_at is not None:
        return StaffJoinResult("used", station)
    if as_utc(bind.expires_at) <= now:
        return StaffJoinResult("expired", station)
    if not await _claim(session, bind.code, user_id, now):
        return StaffJoinResult("used", station)
    query = select(StaffMember).where(StaffMember.channel == channel, StaffMember.user_id == user_id)
    member = (await session.exec(query)).first() or StaffMember(channel=channel, user_id=user_id, role="staff")
    member.role, member.station_id, member.active, member.name = "staff", station.id, True, name[:200]
    member.added_by, member.added_at = "staff code", now
    session.add(member)
    await session.flush()
    return StaffJoinResult("ok", station, member)
