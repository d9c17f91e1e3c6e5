"""``kymaprov.lru.LRU``: what per-runtime caches keep is bounded, and a use keeps an entry."""

from __future__ import annotations

from kymaprov.lru import LRU


def test_only_the_most_recently_used_entries_stay() -> None:
    cache: LRU[str, int] = LRU(size=3)
    for i in range(10):
        cache.put(f"k{i}", i)
    assert len(cache) == 3
    assert [cache.get(f"k{i}") for i in range(10)] == [None] * 7 + [7, 8, 9]
    assert cache.get("k7") == 7  # k7 is now the most recent
    cache.put("k10", 10)
    assert cache.get("k8") is None and cache.get("k7") == 7


def test_pop_forgets_and_tolerates_a_missing_key() -> None:
    cache: LRU[str, int] = LRU()
    cache.put("a", 1)
    cache.pop("a")
    cache.pop("a")
    assert cache.get("a") is None and len(cache) == 0
