"""The portal's actions. Each is a POST with the session's CSRF token that calls the same
application-layer method as the API route of the same name, so the policy table decides
(403 with the platform's reason: the role needed and how to get it, or the failed gate
check) and the audit log records, exactly as for the API. A change that runs as a job
answers with the job's live progress (htmx) or a redirect to the job's page (no script)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from ferry_contract import (
    DeploymentCreate,
    InvalidRequest,
    RolloutCreate,
    TokenCreate,
)
from ferry_platform.store import JobRecord
from ferry_server.portal._pages import JobId, Name, job_context
from ferry_server.portal._web import (
    PORTAL_PREFIX,
    CheckedDep,
    FormDep,
    app_of,
    build,
    integer,
    is_htmx,
    render,
    router,
)


def started(request: Request, me: Any, job: JobRecord) -> Response:
    """A job just started: its live progress (htmx), or its page."""
    if is_htmx(request):
        return render(request, "_job.html", me=me, status=202,
                      **job_context(app_of(request), me, job.id))
    return RedirectResponse(f"{PORTAL_PREFIX}/jobs/{job.id}", status_code=303)


def done(request: Request, me: Any, message: str, back: str) -> Response:
    """A change that finished at once: say so (htmx), or go back to the page."""
    if is_htmx(request):
        return render(request, "_notice.html", me=me, message=message,
                      headers={"HX-Trigger": "ferry-job-done"})
    return RedirectResponse(back, status_code=303)


def _reason(fields: dict[str, str], name: str = "override_reason") -> str | None:
    return (fields.get(name) or "").strip() or None


# -- deployments ---------------------------------------------------------------------------
@router.post("/deployments")
def deploy(request: Request, me: CheckedDep, fields: FormDep) -> Response:
    """Deploy a model version (from the model's page)."""
    body = build(DeploymentCreate, model=fields.get("model", ""),
                 version=integer(fields, "version"),
                 name=(fields.get("name") or "").strip() or None,
                 replicas=integer(fields, "replicas"))
    return started(request, me, app_of(request).deployments.create(body, me.who))


@router.post("/deployments/{name}/rollout")
def start_rollout(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    """Start a canary, A/B or shadow rollout of a version beside the serving release."""
    mode = fields.get("mode", "canary")
    body = build(RolloutCreate, version=integer(fields, "version"), mode=mode,
                 weight=integer(fields, "weight", 0 if mode == "shadow" else 10),
                 sticky_key=(fields.get("sticky_key") or "").strip() or None
                 if mode == "ab" else None,
                 override_reason=_reason(fields))
    return started(request, me, app_of(request).deployments.rollout(name, body, me.who))


@router.post("/deployments/{name}/weight")
def update_rollout(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    weight = integer(fields, "weight")
    if weight is None or not 0 <= weight <= 100:
        raise InvalidRequest(f"weight must be a percentage from 0 to 100, not {weight}",
                             details={"field": "weight"})
    return started(request, me, app_of(request).deployments.set_weight(name, weight, me.who))


@router.post("/deployments/{name}/promote")
def promote_rollout(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    reason = _reason(fields)
    if reason is not None and len(reason) < 10:
        raise InvalidRequest("an override reason needs at least 10 characters",
                             details={"field": "override_reason"})
    return started(request, me, app_of(request).deployments.promote(name, me.who, reason))


@router.post("/deployments/{name}/abort")
def abort_rollout(request: Request, name: Name, me: CheckedDep, _f: FormDep) -> Response:
    return started(request, me, app_of(request).deployments.abort(name, me.who))


@router.post("/deployments/{name}/rollback")
def rollback_deployment(request: Request, name: Name, me: CheckedDep, _f: FormDep) -> Response:
    return started(request, me, app_of(request).deployments.rollback(name, me.who))


@router.post("/deployments/{name}/scale")
def scale_deployment(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    """Run the serving release on another number of replicas, or autoscaled between
    ``replicas`` and ``max_replicas``: a deploy of the same version (its release is reused,
    the preflight skipped)."""
    app = app_of(request)
    dep = app.deployments.get(name)
    if dep.rollout is not None:
        raise InvalidRequest(f"{name!r} has a rollout under way; promote or abort it before "
                             "scaling", details={"deployment": name})
    replicas, high = integer(fields, "replicas"), integer(fields, "max_replicas")
    scaling: dict[str, object] = {"replicas": replicas} if high is None else \
        {"replicas": "auto", "min_replicas": replicas, "max_replicas": high}
    body = build(DeploymentCreate, model=dep.release.model, version=dep.release.version,
                 name=name, protocol=dep.protocol, **scaling)
    return started(request, me, app.deployments.create(body, me.who))


@router.post("/deployments/{name}/undeploy")
def delete_deployment(request: Request, name: Name, me: CheckedDep, _f: FormDep) -> Response:
    app_of(request).deployments.delete(name, me.who)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": f"{PORTAL_PREFIX}/deployments"})
    return RedirectResponse(f"{PORTAL_PREFIX}/deployments", status_code=303)


# -- models --------------------------------------------------------------------------------
@router.post("/models/{name}/champion")
def set_champion(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    """Make a version champion, only through its gate (admins may override with a
    reason); a refusal shows the failed check."""
    version = integer(fields, "version")
    if version is None:
        raise InvalidRequest("name the version to make champion", details={"field": "version"})
    reason = _reason(fields)
    if reason is not None and len(reason) < 10:
        raise InvalidRequest("an override reason needs at least 10 characters",
                             details={"field": "override_reason"})
    job = app_of(request).evaluations.start_champion(name, version, me.who, reason)
    if job is not None:  # the gate evaluates first: its job, followed live
        return started(request, me, job)
    return done(request, me, f"v{version} is now the champion of {name}",
                f"{PORTAL_PREFIX}/models/{name}")


@router.post("/models/{name}/evaluations")
def create_evaluation(request: Request, name: Name, me: CheckedDep, fields: FormDep) -> Response:
    version = integer(fields, "version")
    if version is None:
        raise InvalidRequest("name the version to evaluate", details={"field": "version"})
    job = app_of(request).evaluations.evaluate(name, version, integer(fields, "against"),
                                               me.who)
    return started(request, me, job)


# -- access --------------------------------------------------------------------------------
@router.post("/tokens")
def create_token(request: Request, me: CheckedDep, fields: FormDep) -> Response:
    """A new token of one's own, shown once on the answer (never stored, never again)."""
    app = app_of(request)
    ttl = (fields.get("ttl_days") or "").strip()
    body = build(TokenCreate, description=fields.get("description", ""),
                 ttl_days=ttl or 90,  # the model parses it (a 400 naming a bad one)
                 scope=fields.get("scope", "all"))
    issued = app.identity.create_token(me.who, user=None, description=body.description,
                                       ttl_days=body.ttl_days, scope=body.scope)
    return render(request, "_token_issued.html", me=me, issued=issued,
                  headers={"Cache-Control": "no-store"})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, me: CheckedDep, _f: FormDep) -> Response:
    if len(token_id) != 12 or not all(c in "0123456789abcdef" for c in token_id):
        raise InvalidRequest(f"no token id {token_id[:20]!r}", details={"field": "token_id"})
    app_of(request).identity.revoke_token(token_id, me.who)
    return done(request, me, f"token {token_id} revoked", f"{PORTAL_PREFIX}/access")


@router.post("/teams/{team}/members")
def set_member(request: Request, team: Name, me: CheckedDep, fields: FormDep) -> Response:
    user, role = (fields.get("user") or "").strip(), fields.get("role", "")
    if role not in ("viewer", "deployer", "admin"):
        raise InvalidRequest(f"role must be viewer, deployer or admin, not {role[:20]!r}",
                             details={"field": "role"})
    if not user:
        raise InvalidRequest("name the user to add", details={"field": "user"})
    app_of(request).identity.set_member(team, user, role, me.who)
    return done(request, me, f"{user} is now {role} in {team}", f"{PORTAL_PREFIX}/access")


@router.post("/teams/{team}/members/{user}/remove")
def remove_member(request: Request, team: Name, user: Name, me: CheckedDep,
                  _f: FormDep) -> Response:
    app_of(request).identity.remove_member(team, user, me.who)
    return done(request, me, f"{user} left {team}", f"{PORTAL_PREFIX}/access")


__all__ = ["JobId", "started"]
