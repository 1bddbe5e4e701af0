"""The log root kept incrementally: only new entries are read, and a log that no longer
agrees with what was folded is folded again from the start."""

from __future__ import annotations

from chain import log as event_log
from service.ledger.storage.commitments import ChainCommitments


def leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [event_log.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


class Log:
    """A stored log as ``read_leaves`` sees it, counting what it is asked for."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        self.read = 0

    def __call__(self, start: int, end: int) -> list[bytes]:
        self.read += end - start
        return self.entries[start:end]


def test_the_root_is_the_rfc_6962_root_and_only_new_leaves_are_read():
    commitments, log = ChainCommitments(), Log(leaves(1000))
    assert commitments.log_root_of(600, log) == event_log.root(log.entries[:600])
    assert log.read == 600
    log.read = 0
    assert commitments.log_root_of(1000, log) == event_log.root(log.entries)
    assert log.read == 1 + 400  # the last folded leaf, checked, and the 400 new ones
    log.read = 0
    assert commitments.log_root_of(1000, log) == event_log.root(log.entries)
    assert log.read == 1


def test_a_log_that_no_longer_agrees_is_folded_again():
    commitments = ChainCommitments()
    commitments.log_root_of(50, Log(leaves(50)))
    other = Log(leaves(80, salt=b"restored"))
    assert commitments.log_root_of(80, other) == event_log.root(other.entries)


def test_an_older_size_is_answered_without_losing_the_frontier():
    commitments, log = ChainCommitments(), Log(leaves(100))
    commitments.log_root_of(100, log)
    assert commitments.log_root_of(40, log) == event_log.root(log.entries[:40])
    log.read = 0
    commitments.log_root_of(100, log)
    assert log.read == 1


def test_an_empty_log_has_the_empty_root():
    assert ChainCommitments().log_root_of(0, Log([])) == event_log.EMPTY_ROOT
