"""The ingestion batch's cache (tools/batch_cache.py): looked up once per batch and per user,
every time outside a batch, gone when the batch ends."""

from types import SimpleNamespace

import pytest

from tools.batch_cache import batch_cache, batch_cached, in_batch


def make_env(uid=1, su=True, cache=None):
    return SimpleNamespace(cr=SimpleNamespace(cache={} if cache is None else cache), uid=uid, su=su)


def counter():
    calls = []

    def compute():
        calls.append(1)
        return [len(calls)]

    return calls, compute


def test_outside_a_batch_every_call_looks_up():
    env = make_env()
    calls, compute = counter()
    assert batch_cached(env, "k", compute) == [1]
    assert batch_cached(env, "k", compute) == [2]
    assert in_batch(env) is None


def test_in_a_batch_once_per_key_and_per_user():
    env = make_env()
    calls, compute = counter()
    with batch_cache(env):
        assert batch_cached(env, "k", compute) == [1]
        assert batch_cached(env, "k", compute) == [1]
        assert batch_cached(env, "other", compute) == [2]
        # Another user (or not superuser) on the same cursor: looked up for them.
        assert batch_cached(make_env(uid=2, cache=env.cr.cache), "k", compute) == [3]
        assert batch_cached(make_env(su=False, cache=env.cr.cache), "k", compute) == [4]
    assert len(calls) == 4
    assert in_batch(env) is None
    assert batch_cached(env, "k", compute) == [5]


def test_the_batch_ends_even_when_it_fails_and_an_inner_one_shares_it():
    env = make_env()
    with pytest.raises(ValueError), batch_cache(env) as outer:
        with batch_cache(env) as inner:
            assert inner is outer
        assert in_batch(env) is outer, "the inner batch leaves the outer one open"
        raise ValueError("broken batch")
    assert in_batch(env) is None
