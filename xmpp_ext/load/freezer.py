"""Logged-in sessions taken out of the cyclic collector's sight as they log in, not only once all are in.

A load session lives until the end of the run, and each one adds a few
hundred objects the collector tracks. Left to itself, the collector runs a
full collection whenever the objects that survived into its oldest
generation have grown by a quarter since the last one: while thousands of
sessions log in, that is a dozen full collections over an ever larger heap,
about 0.7 ms of CPU per login (a quarter of the whole login) in a worker
logging 2,000 sessions in. ``gc.freeze`` moves every tracked object to a
generation no collection walks, so collecting and freezing after every
``FREEZE_EVERY`` logins keeps each collection to the objects made since the
last freeze: the same work per login however many sessions are already in.

What a freeze catches besides the logged-in sessions is the state of the
logins in progress at that moment (at most ``LOGIN_CONCURRENCY`` of them);
whatever of it ends up in a reference cycle after those logins finish is
never collected. That is bounded (a few KiB per login in progress, once per
``FREEZE_EVERY`` logins), and ``gc.collect`` first frees what is garbage
already.
"""

from __future__ import annotations

import gc

#: Logins between two collect-and-freeze passes (each pass walks the objects of about this many sessions).
FREEZE_EVERY = 200


def collect_and_freeze() -> None:
    """Free the garbage there is, then take every object alive now out of the collector's sight."""
    gc.collect()
    gc.freeze()


class LoginFreezer:
    """Counts logins; every ``every`` of them, ``collect_and_freeze``."""

    __slots__ = ("_since", "every")

    def __init__(self, every: int = FREEZE_EVERY) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        self.every = every
        self._since = 0

    def logged_in(self) -> bool:
        """One more session logged in; True when that made a collect-and-freeze pass."""
        self._since += 1
        if self._since < self.every:
            return False
        self._since = 0
        collect_and_freeze()
        return True
