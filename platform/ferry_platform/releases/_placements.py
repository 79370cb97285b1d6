"""Where each release serves, written on its MLflow model version as tags.

MLflow's own UI and client then show which deployments serve a version, at what weight,
and since when, without Ferry's API:

- ``ferry.release_id``: the release built from the version (the last one, if rebuilt);
- ``ferry.deployment.<name>``: JSON ``{"release_id", "weight", "arm", "since"}`` while
  deployment ``<name>`` runs the release (weight 0: the standby kept for rollback, or a
  shadow); deleted when it stops running there;
- ``ferry.deployments``: the names of those deployments, comma-separated (``""``: none);
- ``ferry.deployment_history``: JSON list of events ``{"at", "deployment", "release_id",
  "action", "weight", "arm"}`` (weight ``null``: removed), oldest first, the oldest
  dropped past :data:`HISTORY_LIMIT` characters (MLflow caps a tag's value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RELEASE_TAG = "ferry.release_id"
DEPLOYMENT_TAG = "ferry.deployment."
DEPLOYMENTS_TAG = "ferry.deployments"
HISTORY_TAG = "ferry.deployment_history"
HISTORY_LIMIT = 4000


@dataclass(frozen=True)
class Placement:
    """One release running in one deployment."""

    release_id: str
    weight: int
    arm: str


def placement_tags(current: dict[str, str], deployment: str, release_id: str,
                   placement: Placement | None, action: str,
                   at: datetime) -> dict[str, str | None]:
    """The tag changes recording that ``release_id`` now runs in ``deployment`` as
    ``placement`` (None: no longer runs there); empty if nothing changed."""
    key = DEPLOYMENT_TAG + deployment
    old: dict[str, Any] | None = None
    if key in current:
        try:
            old = json.loads(current[key])
        except ValueError:
            old = None
    same = placement is not None and old is not None and \
        (old.get("weight"), old.get("arm"), old.get("release_id")) == \
        (placement.weight, placement.arm, placement.release_id)
    if same or (placement is None and key not in current):
        return {}
    changes: dict[str, str | None] = {}
    if placement is None:
        changes[key] = None
    else:
        changes[key] = json.dumps({"release_id": placement.release_id,
                                   "weight": placement.weight, "arm": placement.arm,
                                   "since": at.isoformat()}, sort_keys=True)
        changes[RELEASE_TAG] = release_id
    names = {k.removeprefix(DEPLOYMENT_TAG) for k in current if k.startswith(DEPLOYMENT_TAG)}
    names = names - {deployment} if placement is None else names | {deployment}
    changes[DEPLOYMENTS_TAG] = ",".join(sorted(names))
    try:
        history: list[dict[str, Any]] = json.loads(current.get(HISTORY_TAG, "[]"))
    except ValueError:
        history = []
    history.append({"at": at.isoformat(), "deployment": deployment, "release_id": release_id,
                    "action": action, "weight": placement.weight if placement else None,
                    "arm": placement.arm if placement else None})
    text = json.dumps(history)
    while len(text) > HISTORY_LIMIT and len(history) > 1:
        history.pop(0)
        text = json.dumps(history)
    changes[HISTORY_TAG] = text
    return changes
