"""Sessions frozen out of the collector's sight as they log in (xmpp_ext.load.freezer)."""

from __future__ import annotations

import gc
import weakref

import pytest

from xmpp_ext.load.freezer import LoginFreezer


class Node:
    """An object the cyclic collector tracks, able to sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen():
    """The test's freezes undone afterwards (the rest of the suite runs in this process)."""
    yield
    gc.unfreeze()


def test_every_nth_login_collects_the_garbage_and_freezes_what_is_alive(unfrozen):
    freezer = LoginFreezer(every=3)
    kept = Node()  # a logged-in session: alive until the end
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle only the collector frees
    gone = weakref.ref(garbage)
    del garbage
    frozen_before = gc.get_freeze_count()

    assert [freezer.logged_in() for _ in range(2)] == [False, False]
    assert gone() is not None and gc.get_freeze_count() == frozen_before

    assert freezer.logged_in() is True
    assert gone() is None
    assert gc.get_freeze_count() > frozen_before
    # The collector no longer sees what was alive at the freeze: the generations it walks hold none of it.
    assert all(obj is not kept for obj in gc.get_objects())

    assert [freezer.logged_in() for _ in range(3)] == [False, False, True]


def test_a_freezer_needs_at_least_one_login_between_freezes():
    with pytest.raises(ValueError, match="at least 1"):
        LoginFreezer(every=0)
