"""``datetime``: the current date and time in a timezone."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext

DESCRIPTION = (
    "Get the current date and time. Optionally in an IANA timezone (for example "
    "'Europe/Paris', 'UTC') and with a strftime format."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timezone": {
            "type": "string",
            "description": "IANA timezone name; default: the machine's local timezone",
        },
        "format": {
            "type": "string",
            "description": "strftime format, e.g. '%Y-%m-%d %H:%M'; default: ISO 8601",
        },
    },
}


def now(timezone: str | None = None) -> dt.datetime:
    if not timezone:
        return dt.datetime.now().astimezone()

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {timezone!r}; use an IANA name like 'Europe/Paris'"
        ) from exc
    return dt.datetime.now(zone)


async def run(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolOutcome:
    timezone = arguments.get("timezone")
    fmt = arguments.get("format")
    if timezone is not None and not isinstance(timezone, str):
        return ToolOutcome(ok=False, content="'timezone' must be a string")
    if fmt is not None and not isinstance(fmt, str):
        return ToolOutcome(ok=False, content="'format' must be a string")
    try:
        moment = now(timezone)
    except ValueError as exc:
        return ToolOutcome(ok=False, content=str(exc))
    text = moment.strftime(fmt) if fmt else moment.isoformat(timespec="seconds")
    structured = {
        "iso": moment.isoformat(timespec="seconds"),
        "timezone": timezone or (moment.tzname() or "local"),
        "weekday": moment.strftime("%A"),
        "utc_offset": moment.strftime("%z"),
    }
    if not fmt:
        text = f"{text} ({structured['weekday']}, {structured['timezone']})"
    return ToolOutcome(ok=True, content=text, structured=structured)


TOOLS = {"datetime": (DESCRIPTION, SCHEMA, run)}
