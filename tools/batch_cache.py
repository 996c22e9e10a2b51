"""What an ingestion batch looks up once for all its messages (issue #12 part 5).

The inbound rules (opt-out words, campaign keywords, chatbots, automations, scripts, assignment)
each looked up the same things for every message: the running keyword campaigns, the active
automations, the scripts with keywords, the agents of the company... During one ingestion batch
(one transaction, REPEATABLE READ: what the batch itself does not change reads the same all along)
they are looked up once and kept here, in the cursor's cache, until the batch ends.

Odoo-free: it only uses ``env.cr.cache``, a plain dictionary of the cursor.
"""

from contextlib import contextmanager

BATCH_CACHE = "contact_centre.ingestion_batch_cache"


@contextmanager
def batch_cache(env):
    """The batch's cache, open while the ``with`` block runs (an inner one shares the outer's)."""
    if BATCH_CACHE in env.cr.cache:
        yield env.cr.cache[BATCH_CACHE]
        return
    cache = env.cr.cache[BATCH_CACHE] = {}
    try:
        yield cache
    finally:
        env.cr.cache.pop(BATCH_CACHE, None)


def batch_cached(env, key, compute):
    """``compute()``, once per batch for ``key`` (every time outside a batch). Keep in it only
    plain values (ids, words), never records: a failed event's savepoint clears the ORM's cache."""
    cache = env.cr.cache.get(BATCH_CACHE)
    if cache is None:
        return compute()
    key = (key, env.uid, env.su)  # what one may see, another may not
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def resume_batch(env, cache):
    """Put the batch's ``cache`` back in the cursor: the rollback of a savepoint (a failed event,
    an automated reply refused) empties the cursor's whole cache. What the batch's cache holds
    stays true through a rollback: the inbound look-ups undo what a failed event added, the rest
    is what the batch does not change, or sets that only shrink (a miss is looked up again)."""
    env.cr.cache[BATCH_CACHE] = cache


def in_batch(env):
    """The batch's cache, or None outside a batch."""
    return env.cr.cache.get(BATCH_CACHE)
