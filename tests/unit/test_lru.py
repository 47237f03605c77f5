"""The one bounded LRU behind the model cache, the encoder run cache and the lab's fine-tuned models."""

from __future__ import annotations

import threading

import pytest

from bertviz_ui.models.lru import BoundedLRU


def test_count_bound_evicts_least_recently_used_and_reports_it():
    evicted = []
    lru = BoundedLRU(max_entries=2, on_evict=lambda key, value: evicted.append((key, value)))
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recently used
    assert lru.put("c", 3) == [("b", 2)]
    assert evicted == [("b", 2)]
    assert [key for key, _ in lru.items()] == ["c", "a"]


def test_byte_bound_keeps_the_newest_even_when_it_alone_is_over():
    lru = BoundedLRU(max_bytes=10, size=len)
    lru.put("small", "xxxx")
    lru.put("medium", "xxxxx")
    assert lru.total_bytes() == 9
    assert lru.put("huge", "x" * 50) == [("small", "xxxx"), ("medium", "xxxxx")]
    assert lru.values() == ["x" * 50] and lru.total_bytes() == 50


def test_pop_clear_and_discard_do_not_call_on_evict():
    evicted = []
    lru = BoundedLRU(max_entries=5, on_evict=lambda key, value: evicted.append(key))
    for key in "abcd":
        lru.put(key, key.upper())
    assert lru.pop("a") == "A" and lru.pop("a") is None
    assert lru.discard_where(lambda key, value: value in "BC") == [("b", "B"), ("c", "C")]
    assert lru.clear() == [("d", "D")]
    assert evicted == [] and len(lru) == 0 and "d" not in lru


def test_get_or_compute_computes_once_per_key():
    calls = []
    lru = BoundedLRU(max_entries=4)
    for _ in range(3):
        assert lru.get_or_compute("k", lambda: calls.append(1) or "v") == "v"
    assert calls == [1]


def test_rejects_a_zero_count_bound():
    with pytest.raises(ValueError):
        BoundedLRU(max_entries=0)


def test_concurrent_puts_never_exceed_the_bound():
    lru = BoundedLRU(max_entries=3)

    def work(offset):
        for i in range(200):
            lru.put((offset, i), i)
            assert len(lru) <= 3

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lru) == 3
