"""Registered models and versions as the API changes them: who owns a model, who may
register versions of it, and what is recorded."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from ferry_contract import (
    IdentityNotFound,
    InvalidRequest,
    LoggedModelCreate,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_platform.access import DEFAULT_TEAM, AccessService, Principal
from ferry_platform.application._audited import Audit
from ferry_platform.application._evaluations import Evaluations
from ferry_platform.application._policy import Policy, resource
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.registry import unpack


class Models:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 registry: CatalogRegistry, evaluations: Evaluations,
                 max_unpacked_bytes: int) -> None:
        self._policy = policy
        self._access = access
        self._audit = audit
        self._registry = registry
        self._evaluations = evaluations
        self._max_unpacked_bytes = max_unpacked_bytes

    def owner(self, model: str, who: Principal, team: str | None = None) -> str:
        """The team that owns ``model``; a model with none (new, or registered before teams)
        is claimed for ``team`` or, if not given, the caller's one deployer team."""
        owner = self._access.model_team(model)
        if owner is not None:
            if team and team != owner:
                raise InvalidRequest(f"model {model!r} belongs to team {owner!r}, not {team!r}",
                                     details={"model": model, "team": owner})
            return owner
        if team is None:
            options = who.teams_with("deployer") or ([DEFAULT_TEAM] if who.is_admin else [])
            if len(options) != 1:
                raise InvalidRequest(
                    f"model {model!r} is new: name the team that will own it "
                    f"(team=...; you deploy for {options or 'no team'}).",
                    details={"teams": options})
            team = options[0]
        if not self._access.team_exists(team):
            raise IdentityNotFound(f"no team {team!r}; teams: {self._access.team_names()}")
        self._policy.require(who, "put_model", resource=resource("model", model), team=team)
        return self._access.claim_model(model, team)

    def put(self, name: str, who: Principal, description: str = "",
            team: str | None = None) -> ModelPublic:
        """Create the model (its registry entry and experiment) if it does not exist."""
        owner = self.owner(name, who, team)
        self._policy.require(who, "put_model", resource=resource("model", name), team=owner)
        model = self._registry.ensure_model(name, description)
        self._audit(who, "put_model", resource("model", name), [owner])
        return model

    def log_model(self, name: str, archive: IO[bytes], lineage_json: str,
                  who: Principal) -> LoggedModelPublic:
        """Unpack an uploaded model archive (checked, capped, never loaded) and log it with
        its lineage (a ``LoggedModelCreate`` as JSON) into ``name``'s experiment."""
        self._registry.get_model(name)  # 404 before anything is claimed
        owner = self.owner(name, who)
        self._policy.require(who, "upload_logged_model", resource=resource("model", name),
                             team=owner)
        lineage = _lineage(lineage_json)
        with tempfile.TemporaryDirectory(prefix="ferry-upload-") as tmp:
            model_dir = Path(tmp) / "model"
            model_dir.mkdir()
            unpack(archive, model_dir, max_bytes=self._max_unpacked_bytes)
            logged = self._registry.log_model(name, model_dir, lineage, who.user)
        self._audit(who, "upload_logged_model", resource("model", name), [owner],
                    details={"model_uri": logged.model_uri, "run_id": logged.run_id})
        return logged

    def register_version(self, name: str, body: ModelVersionCreate,
                         who: Principal) -> ModelVersionPublic:
        """Register a logged model as a new version; evaluated at once if the model has an
        evaluation set."""
        owner = self.owner(name, who)
        self._policy.require(who, "create_model_version", resource=resource("model", name),
                             team=owner)
        version = self._registry.register_version(name, body)
        self._audit(who, "create_model_version", resource("model", name), [owner],
                    details={"version": version.version, "run_id": version.run_id,
                             "model_digest": version.model_digest})
        self._evaluations.evaluate_on_register(name, version.version, who)
        return version

    # -- reads, as the catalog stores them (JSON, validated when written) ----------------
    def cached_list(self) -> list[dict[str, Any]]:
        return self._registry.cached_models()

    def cached_get(self, name: str) -> dict[str, Any]:
        found = self._registry.cached_model(name)
        return found if found is not None else \
            self._registry.get_model(name).model_dump(mode="json")

    def cached_versions(self, name: str) -> list[dict[str, Any]]:
        found = self._registry.cached_versions(name)
        return found if found is not None else \
            [v.model_dump(mode="json") for v in self._registry.list_versions(name)]

    # -- pages: every list the portal (and the API, when asked) shows is bounded ---------
    def page(self, *, query: str | None = None, team: str | None = None,
             after: str | None = None, limit: int = 50) -> list[tuple[dict[str, Any], str | None]]:
        """Models by name after ``after`` (name containing ``query``, owned by ``team``),
        each with its owning team; at most ``limit``."""
        return self._registry.page_models(query=query, team=team, after=after, limit=limit)

    def versions_page(self, name: str, *, before: int | None = None,
                      limit: int = 50) -> list[dict[str, Any]]:
        """``name``'s versions older than ``before``, newest first; at most ``limit``."""
        return self._registry.page_versions(name, before=before, limit=limit)

    def version_count(self, name: str) -> int:
        return self._registry.count_versions(name)

    def newest_versions(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Each model's newest version (what it pins of the feature store, for one)."""
        return self._registry.newest_versions(limit)

    def team(self, name: str) -> str | None:
        """The team owning ``name`` (None: not claimed yet)."""
        return self._access.model_team(name)

    def cached_version(self, name: str, version: int) -> dict[str, Any]:
        found = self._registry.cached_version(name, version)
        return found if found is not None else \
            self._registry.get_version(name, version).model_dump(mode="json")


def _lineage(text: str) -> LoggedModelCreate:
    try:
        return LoggedModelCreate.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'lineage'}: {err['msg']}"
                             for err in e.errors(include_url=False, include_input=False)[:10])
        raise InvalidRequest(f"the lineage part is not valid: {problems}",
                             details={"field": "lineage"}) from None
