"""A deployment's request contract: the columns its clients send, and which changes of it
break them.

A model served on its own inputs takes its signature's columns; a model served with
features takes the entity keys and the inputs no feature view provides. The data plane
refuses a request whose columns are not exactly these (a missing or an extra column), so
a new version whose contract differs breaks every client of the old one.
"""

from __future__ import annotations

from ferry_contract import ColumnSpec
from ferry_platform.core._features import FeatureBinding

# Values a column of the old type may hold that a column of the new type accepts.
_WIDENS = {("long", "double"), ("integer", "double"), ("integer", "long"),
           ("float", "double"), ("long", "float"), ("integer", "float")}


def request_columns(signature: list[ColumnSpec],
                    binding: FeatureBinding | None) -> list[ColumnSpec]:
    """What a request must carry to reach a model with ``signature`` (and ``binding``)."""
    if binding is None:
        return list(signature)
    fed = set(binding.feature_names)
    keys = [ColumnSpec(name=k, type=t) for k, t in binding.entity_keys.items()]
    return keys + [c for c in signature if c.name not in fed]


def breaking_changes(old: list[ColumnSpec], new: list[ColumnSpec]) -> list[str]:
    """Each way a client of ``old`` fails against ``new`` (empty: compatible)."""
    before, after = {c.name: c for c in old}, {c.name: c for c in new}
    out = [f"column {n!r} ({after[n].type}) is new: requests without it are refused"
           for n in after if n not in before]
    out += [f"column {n!r} ({before[n].type}) is gone: requests with it are refused"
            for n in before if n not in after]
    for name in before.keys() & after.keys():
        a, b = before[name], after[name]
        if a.type != b.type and (a.type, b.type) not in _WIDENS:
            out.append(f"column {name!r} changes from {a.type} to {b.type}")
        if b.required and not a.required:
            out.append(f"column {name!r} becomes required: requests with nulls are refused")
    return out
