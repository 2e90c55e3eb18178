"""Roles: admins (settings or granted), province viewers, station staff; what each may see and change."""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from locales import DEFAULT_LANGUAGE
from storage.models import Account, StaffMember

ADMIN, PROVINCE, STAFF = "admin", "province", "staff"
ROLES = (ADMIN, PROVINCE, STAFF)


@dataclass(frozen=True)
class Access:
    role: str | None  # None: no role at all
    station_id: int | None = None  # the station of a staff member

    def sees(self, station_id: int | None) -> bool:
        """Admins and province viewers see every station; staff only their own."""
        return self.role in (ADMIN, PROVINCE) or (self.role == STAFF and station_id == self.station_id)

    def changes(self, station_id: int | None) -> bool:
        """Admins change anything; staff their own station's records; province viewers nothing."""
        return self.role == ADMIN or (self.role == STAFF and station_id == self.station_id)


ROLES_CHANGED = "roles_changed"  # in session.info: the (channel, user_id) whose role this transaction changed


def note_role_change(session: AsyncSession, channel: str, user_id: str) -> None:
    """For the channel, once committed: e.g. Telegram shows each role its own command menu."""
    session.info.setdefault(ROLES_CHANGED, set()).add((channel, user_id))


async def language_of(session: AsyncSession, channel: str, user_id: str) -> str:
    """The language of a chat user's account; Vietnamese for someone who never talked to the bot."""
    query = select(Account.language).where(Account.channel == channel, Account.external_id == user_id)
    return (await session.exec(query)).first() or DEFAULT_LANGUAGE


async def staff_member(session: AsyncSession, channel: str, user_id: str) -> StaffMember | None:
    query = select(StaffMember).where(StaffMember.channel == channel, StaffMember.user_id == user_id)
    return (await session.exec(query)).first()


async def access_of(session: AsyncSession, channel: str, user_id: str, is_settings_admin: bool) -> Access:
    """The role of a chat user: CACHLY_ADMIN_IDS first, then an active staff record."""
    if is_settings_admin:
        return Access(ADMIN)
    member = await staff_member(session, channel, user_id)
    if member is None or not member.active:
        return Access(None)
    return Access(member.role, member.station_id)
