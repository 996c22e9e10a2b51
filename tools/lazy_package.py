"""Import a generated SDK package without importing all of it.

Packages made by OpenAPI Generator (Infobip's SDK) import every API and model in their
``__init__``: about 800 pydantic models, over a second of CPU in every process that sends through
Infobip, which sends with some 60 of them. ``lazy_packages`` puts in place of such packages modules that import
each name of their ``__init__`` from its own submodule when it is first read, as that ``__init__``
would have bound it. A name the ``__init__`` does not import (``__version__``...) runs the real
``__init__`` in the module, which from then on is the package as it ships.
"""

import ast
import importlib
import importlib.util
import sys
import threading

_lock = threading.RLock()


def lazy_packages(*names):
    """Put lazy modules in place of the packages ``names`` (parents first), none of them imported
    yet. Returns whether it did: nothing changes when one is imported already, and an ``__init__``
    it cannot read leaves the packages to be imported as usual."""
    with _lock:
        if any(name in sys.modules for name in names):
            return False
        placed = []
        try:
            for name in names:
                placed.append(name)
                _place(name)
        except (ImportError, OSError, SyntaxError, ValueError):
            for name in placed:
                sys.modules.pop(name, None)
            return False
        return True


def _place(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package")
    with open(spec.origin, encoding="utf-8") as init:
        tree = ast.parse(init.read(), spec.origin)
    sources = {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith(f"{name}.")
        for alias in node.names
    }
    module = importlib.util.module_from_spec(spec)

    def __getattr__(attr):
        if attr in sources:
            value = getattr(importlib.import_module(sources[attr]), attr)
        elif not attr.startswith("__") and importlib.util.find_spec(f"{name}.{attr}"):
            value = importlib.import_module(f"{name}.{attr}")  # a submodule (``from package import rest``)
        else:  # not one of its imports: the real __init__ binds everything, as the package ships
            with _lock:  # once, whichever thread asks first
                if module.__dict__.pop("__getattr__", None):
                    spec.loader.exec_module(module)
            value = getattr(module, attr)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
