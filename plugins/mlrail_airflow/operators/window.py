"""WaitForWindowSensor: start training only inside a time window (cheap hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from airflow.sdk import BaseOperator


def _parse(value: str) -> time:
    hour, minute = (int(part) for part in value.split(":"))
    return time(hour, minute)


def next_window_start(now: datetime, start: str, end: str) -> datetime | None:
    """None when ``now`` (UTC) is inside the daily window [start, end), else when it next
    opens. ``end`` may be earlier than ``start`` (a window across midnight); an empty
    ``end`` means midnight."""
    opens, closes = _parse(start), _parse(end) if end else time(0, 0)
    clock = now.timetz().replace(tzinfo=None)
    if opens < closes:
        inside = opens <= clock < closes
    else:  # across midnight (or until midnight when closes is 00:00)
        inside = clock >= opens or clock < closes
    if inside:
        return None
    today = datetime.combine(now.date(), opens, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


class WaitForWindowSensor(BaseOperator):
    """Defers until the window opens; holds no worker slot while waiting (the triggerer
    does), and passes at once inside the window."""

    step = "window"  # mlrail.pipeline.steps.WINDOW: in-process runs do not wait
    ui_color = "#fdf3e1"

    def __init__(self, *, start: str, end: str = "", **kwargs):
        super().__init__(**kwargs)
        self.start = start
        self.end = end

    def execute(self, context: Any) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        moment = next_window_start(datetime.now(UTC), self.start, self.end)
        if moment is None:
            self.log.info(
                "inside the window %s-%s UTC: starting now", self.start, self.end or "24:00"
            )
            return
        self.log.info(
            "outside the window %s-%s UTC: waiting until %s",
            self.start,
            self.end or "24:00",
            moment.isoformat(),
        )
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        self.log.info("the window opened")
