"""Settings from the environment (prefix CACHLY_) and an optional .env file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from health.rules import RulesError, load_rules

TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable, fit for one line on stderr."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CACHLY_", env_file=".env", extra="ignore")

    telegram_token: str | None = None
    telegram_base_url: str = TELEGRAM_BASE_URL
    database_url: str = "sqlite+aiosqlite:///cachly.db"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = "Asia/Ho_Chi_Minh"
    rules_file: Path | None = None
    # Schedule overrides over the rules file, for a trial run with slots a few minutes ahead.
    slots: Annotated[list[str] | None, NoDecode] = None  # "08:00,15:00"
    chase_after_minutes: int | None = Field(default=None, ge=1)
    station_after_minutes: int | None = Field(default=None, ge=1)
    report_time: str | None = None
    closing_time: str | None = None
    escalate_after_minutes: int | None = Field(default=None, ge=1)  # the rules file's [alerts]
    # Webhook mode: the secret Telegram sends with every update; all processes behind one URL share it.
    webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,256}$")
    # Long polling with several processes: the one polling holds a database lease of this many seconds,
    # renewed every quarter of it; if it dies, another takes polling over within about 1.25 times this.
    poller_lease_seconds: float = Field(default=20, ge=1, le=600)
    # cachly's own log lines from this level (DEBUG, INFO, WARNING, ERROR); the libraries' stay at WARNING
    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"'{part}' is not a Telegram user id (digits only)")
            return [int(p) for p in parts]
        return value

    @field_validator("slots", mode="before")
    @classmethod
    def _split_slots(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("slots", "report_time", "closing_time")
    @classmethod
    def _clock_times(cls, value: list[str] | str | None) -> list[str] | str | None:
        for text in value if isinstance(value, list) else [value] if value else []:
            if not _is_clock_time(text):
                raise ValueError(f"'{text}' is not a time of day HH:MM")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not a log level ({', '.join(LOG_LEVELS)})")
        return value.strip().upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("telegram_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:9000/bot")
        return value

    @field_validator("rules_file")
    @classmethod
    def _rules_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file not found: {value}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def rules_overrides(self) -> dict:
        """The schedule settings given in the environment, in the rules file's shape."""
        schedule = {k: getattr(self, k) for k in ("chase_after_minutes", "station_after_minutes", "report_time",
                                                   "closing_time") if getattr(self, k) is not None}
        overrides: dict = {"schedule": schedule}
        if self.escalate_after_minutes is not None:
            overrides["alerts"] = {"escalate_after_minutes": self.escalate_after_minutes}
        if self.slots:
            overrides["checkin"] = {"slots": self.slots}
        return overrides


def _is_clock_time(text: str) -> bool:
    hour, _, minute = text.partition(":")
    return hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2


def load_settings(**overrides: Any) -> Settings:  # Any: raw values (text too), which pydantic validates
    """Settings or a SettingsError whose message is one line naming the variable; the rules are checked too."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"CACHLY_{field.upper()}: {message}") from None
    try:
        load_rules(settings.rules_file, settings.rules_overrides())
    except RulesError as exc:
        raise SettingsError(f"CACHLY_RULES_FILE: {exc}") from None
    return settings
