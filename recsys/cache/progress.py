"""A cache build's progress as lines in the log: items done, rate and time left, at least
every `INTERVAL` seconds, also when no progress bar is drawn (stderr not a terminal), so a
long build redirected to a file says it is alive and when it will end."""

from __future__ import annotations

import time
from collections.abc import Callable

from plumbing.console import human_duration

INTERVAL = 30.0  # seconds between two progress lines at most (while items get done)


class ProgressLog:
    """Counts a build's items and writes a progress line when `interval` has passed.

    Args:
        name: the channel, as the lines name it (`cache title: ...`).
        total: items the build covers (those done by a resumed build's earlier run too).
        write: where a line goes (`plumbing.console.say`: stderr, between bars).
        clock: seconds, monotonic (injectable for tests).
        interval: the longest gap between two lines.
    """

    def __init__(
        self,
        name: str,
        total: int,
        write: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = None,
    ) -> None:
        self.name, self.total, self.write, self.clock = name, total, write, clock
        self.interval = INTERVAL if interval is None else interval
        self.started = self.last = clock()
        self.done = self.computed = 0

    def update(self, items: int, *, computed: bool = True) -> None:
        """`items` more are done (`computed`: encoded now, not found from an earlier run)."""
        self.done += items
        self.computed += items if computed else 0
        now = self.clock()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            self.write(self.line(now))

    def line(self, now: float) -> str:
        """`cache title: 4,096 of 10,000 items (41%), 120.5 items/s, about 49 s left`."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.computed / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f"about {human_duration(left)} left" if left is not None else "time left unknown"
        share = self.done / max(self.total, 1)
        return (
            f"cache {self.name}: {self.done:,} of {self.total:,} items ({share:.0%}), "
            f"{rate:.1f} items/s, {eta}"
        )
