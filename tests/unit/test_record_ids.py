"""Record ids: unique at any rate one process (or a forked family) makes them, time-ordered."""

from __future__ import annotations

import os
import time

from remediator.common import new_record_id


def test_ids_made_as_fast_as_possible_never_repeat() -> None:
    # Hundreds per millisecond: far more than a busy worker makes. With the earlier 24 random
    # bits per id this repeated within the first few thousand.
    ids = [new_record_id() for _ in range(300_000)]
    assert len(set(ids)) == len(ids)


def test_ids_start_with_their_millisecond_and_sort_by_it() -> None:
    before = int(time.time() * 1000)
    first = new_record_id()
    time.sleep(0.002)
    second = new_record_id()
    after = int(time.time() * 1000)
    assert before <= int(first[:11], 16) < int(second[:11], 16) <= after
    assert first < second
    assert all(len(i) == 21 and int(i, 16) >= 0 for i in (first, second))


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without running pytest's teardown
        os.close(read)
        os.write(write, " ".join(new_record_id()[11:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parent = {new_record_id()[11:] for _ in range(50)}
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    assert len(child) == 50
    assert not parent & child
