"""CronJob schedules as kube's ``cron.ParseStandard`` accepts them (five fields or a descriptor), read
with ``croniter``; the CronJob strategy validates with it and the CronJob controller schedules with it."""

from __future__ import annotations

from croniter import croniter

DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def schedule_error(schedule: object) -> str | None:
    """Why kube's ``cron.ParseStandard`` would refuse a schedule, or None."""
    text = str(schedule or "").strip()
    if "TZ=" in text:
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text.startswith("@"):
        return None if text in DESCRIPTORS else f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    return None if croniter.is_valid(text) else f"unparseable schedule: {text}"
