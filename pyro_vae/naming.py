"""Unique names for models and guides in Pyro's global parameter store.

A ``PyroModule`` stores its parameters under its name; two modules with the same name would
silently share (or clash over) parameters. Each instance therefore gets its class name and
a counter, so that a notebook can swap guides without clearing the param store, and so does
each ``copy.deepcopy`` of one: a copy that kept the original's name would train the
original's parameters in the store, or none, instead of its own.
"""

from __future__ import annotations

import copy
import itertools

from pyro.nn import PyroModule

_counter = itertools.count()


def unique_name(obj) -> str:
    return f"{type(obj).__name__}_{next(_counter)}"


class UniquelyNamed(PyroModule):
    """A ``PyroModule`` named by :func:`unique_name`, whose deep copies get names of their own."""

    def __init__(self):
        super().__init__(unique_name(self))

    def __deepcopy__(self, memo: dict) -> UniquelyNamed:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        name = unique_name(clone)
        for path, module in clone.named_modules():
            # a submodule gets its name (and its parent's context) when first used: rename only named ones
            if isinstance(module, PyroModule) and (module._pyro_name or not path):
                module._pyro_name = f"{name}.{path}" if path else name
        return clone
