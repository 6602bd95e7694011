"""Unique names for models and guides in Pyro's global parameter store.

A ``PyroModule`` stores its parameters under its name; two guides with the same name would
silently share (or clash over) parameters. Each instance therefore gets its class name and
a counter, so that a notebook can swap guides without clearing the param store.
"""

import itertools

_counter = itertools.count()


def unique_name(obj) -> str:
    return f"{type(obj).__name__}_{next(_counter)}"
