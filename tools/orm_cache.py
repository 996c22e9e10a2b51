"""Values put in the ORM's cache without reading them (issue #14: a campaign's turn).

A dispatch turn commits, and Odoo's commit empties the cache: the next turn read again the
campaign's templates and configurations it had just read, and the rows it had just written read
them back. These helpers keep the first and put the second in the cache from what the statement
that wrote them returned.

Odoo-free: they only use the records and fields they are given (``Field._get_cache``, the mapping
of record id -> cached value that ``Field._insert_cache`` fills when the ORM reads).
"""


def cached_values(recordsets):
    """[(field, records, values)]: what the cache holds of the stored fields of ``recordsets``, to
    put back after a commit with ``restore_cached``. A list (one2many, many2many) is kept only when
    its records are of a model kept too (a template's variables, not a campaign's recipients)."""
    kept, models = [], {records._name for records in recordsets}
    for records in recordsets:
        if not records:
            continue
        for field in records._fields.values():
            if not field.store or (field.type in ("one2many", "many2many") and field.comodel_name not in models):
                continue
            cache = field._get_cache(records.env)
            ids = [id_ for id_ in records._ids if id_ in cache]
            if ids:
                kept.append((field, records.browse(ids), [cache[id_] for id_ in ids]))
    return kept


def restore_cached(kept):
    """Put back what ``cached_values`` took, where the cache holds nothing newer."""
    for field, records, values in kept:
        field._insert_cache(records, values)


def returned_fields(model):
    """The fields of ``model`` that reading one of its records fetches at once, in columns that a
    statement can return as they are (not translated, not per company, not binary)."""
    return [
        field
        for field in model._fields.values()
        if field.store
        and field.column_type
        and field.prefetch is True
        and field.name != "id"
        and not field.translate
        and not field.company_dependent
        and field.type != "binary"
    ]


def cache_rows(model, fields, rows):
    """Put ``rows`` [(id, value of each of ``fields``)] in the cache, as reading them would."""
    if not rows:
        return
    ids, *columns = zip(*rows, strict=True)
    records = model.browse(ids)
    for field, values in zip(fields, columns, strict=True):
        field._insert_cache(records, values)
