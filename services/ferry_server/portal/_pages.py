"""The portal's pages and fragments (reads). Each reads through the application layer
after admitting the caller to the API operation it mirrors (the same rule), and shows an
action's controls only where the policy would allow it (the server checks again when the
action comes: a hidden button is a courtesy, not the protection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from ferry_contract import (
    MAX_VERSION,
    METRICS,
    NAME_PATTERN,
    TEAM_PATTERN,
    DeploymentPublic,
    FerryError,
    JobKind,
    JobState,
)
from ferry_platform.application import Application, resource
from ferry_server.portal._web import (
    PAGE_SIZE,
    PORTAL_PREFIX,
    Caller,
    CallerDep,
    app_of,
    render,
    router,
)

Name = Annotated[str, Path(pattern=NAME_PATTERN)]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


def admit(app: Application, me: Caller, operation: str, res: str | None = None) -> None:
    """The caller may do what the API operation this page mirrors lets them (403 else)."""
    app.policy.admit(me.who, operation, res)


def chart(kind: str, labels: list[str], series: dict[str, list[Any]],
          title: str) -> dict[str, Any]:
    """A chart's data for static/portal.js (rendered with ``tojson``, which escapes it for
    HTML, in a non-executed ``<script type="application/json">`` block)."""
    return {"type": kind, "title": title, "labels": labels,
            "series": [{"label": k, "data": v} for k, v in series.items()]}


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{PORTAL_PREFIX}/models", status_code=303)


# -- models ------------------------------------------------------------------------------
def _models_context(request: Request, me: Caller, q: str | None, team: str | None,
                    after: str | None) -> dict[str, Any]:
    app = app_of(request)
    admit(app, me, "list_models", "model")
    page = app.models.page(query=q or None, team=team or None, after=after, limit=PAGE_SIZE + 1)
    return {"models": page[:PAGE_SIZE], "more": page[PAGE_SIZE - 1][0]["name"]
            if len(page) > PAGE_SIZE else None, "q": q or "", "team": team or "",
            "after": after, "teams": app.identity.team_names(), "me": me, "nav": "models"}


@router.get("/models")
def models_page(request: Request, me: CallerDep,
                q: Annotated[str | None, Query(max_length=100)] = None,
                team: Annotated[str | None, Query(max_length=63)] = None,
                after: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None) -> Response:
    context = _models_context(request, me, q, team, after)
    if request.headers.get("hx-target") == "model-rows":
        return render(request, "_model_rows.html", **context)
    return render(request, "models.html", **context)


def _deployed(app: Application, model: str) -> list[dict[str, Any]]:
    """Where releases of ``model`` serve: deployment, release, share of traffic, role."""
    rows = []
    for dep in app.deployments.list_all():
        for row in traffic_rows(dep):
            if row["model"] == model:
                rows.append({"deployment": dep.name, **row})
    return rows


@router.get("/models/{name}")
def model_page(request: Request, me: CallerDep, name: Name,
               before: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None) -> Response:
    app = app_of(request)
    admit(app, me, "get_model", resource("model", name))
    model = app.models.cached_get(name)
    versions = app.models.versions_page(name, before=before, limit=PAGE_SIZE + 1)
    team = app.models.team(name)
    policy = app.policy
    return render(
        request, "model.html", me=me, nav="models", model=model, team=team,
        versions=versions[:PAGE_SIZE], before=before,
        more=versions[PAGE_SIZE - 1]["version"] if len(versions) > PAGE_SIZE else None,
        count=app.models.version_count(name), deployed=_deployed(app, name),
        champion=(model.get("aliases") or {}).get("champion"),
        may_deploy=policy.allows(me.who, "create_deployment", team=team),
        may_champion=policy.allows(me.who, "set_champion", team=team),
        may_evaluate=policy.allows(me.who, "create_evaluation", team=team),
        may_override=policy.allows(me.who, "override_gate", team=team))


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, me: CallerDep, name: Name, version: Version) -> Response:
    app = app_of(request)
    admit(app, me, "get_model_version", resource("model", name))
    found = app.models.cached_version(name, version)
    return render(request, "version.html", me=me, nav="models", v=found, name=name,
                  deployed=[d for d in _deployed(app, name) if d["version"] == version])


@router.get("/models/{name}/versions/{version}/evaluations")
def version_evaluations(request: Request, me: CallerDep, name: Name, version: Version,
                        skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    """A fragment (loaded after the page): this version's evaluations, a page of them
    (``skip`` the newer ones), and, for those that failed, the checks that failed with
    their numbers."""
    app = app_of(request)
    admit(app, me, "list_evaluations", resource("model", name))
    try:
        every = app.evaluations.evaluations(name, version)
        found, problem = every[skip:skip + PAGE_SIZE], None
    except FerryError as e:
        every, found, problem = [], [], e.message
    more = skip + PAGE_SIZE if len(every) > skip + PAGE_SIZE else None
    return render(request, "_evaluations.html", evaluations=found, name=name, problem=problem,
                  me=me, version=version, more=more)


@router.get("/models/{name}/compare")
def compare_page(request: Request, me: CallerDep, name: Name,
                 base: Annotated[int, Query(ge=1, le=MAX_VERSION)],
                 candidate: Annotated[int, Query(ge=1, le=MAX_VERSION)]) -> Response:
    """Candidate vs champion (or ``base``) vs the trivial baseline, as charts and as the
    gate's checks with their numbers."""
    app = app_of(request)
    admit(app, me, "compare_versions", resource("model", name))
    team = app.models.team(name)
    context: dict[str, Any] = {
        "me": me, "nav": "models", "name": name, "base": base, "candidate": candidate,
        "may_evaluate": app.policy.allows(me.who, "create_evaluation", team=team)}
    try:
        e = app.evaluations.compare(name, base, candidate)
    except FerryError as err:
        if err.status >= 500 and err.status != 503:
            raise
        return render(request, "compare.html", evaluation=None, problem=err.message, **context)
    roles = [r for r in ("candidate", "champion", "baseline") if r in e.metrics]
    metrics = [m for m in METRICS if any(e.metrics[r].get(m) is not None for r in roles)]
    bars = chart("bar", metrics, {r: [e.metrics[r].get(m) for m in metrics] for r in roles},
                 f"Metrics of v{candidate} and v{base} and the baseline")
    slices = chart("bar", [str(s["value"]) for s in e.slices],
                   {r: [s["metrics"].get(r) for s in e.slices] for r in roles},
                   f"{e.primary_metric} per slice") if e.slices else None
    classes = sorted({c for r in e.per_class.values() for c in r})
    recall = chart("bar", classes, {r: [e.per_class[r].get(c, {}).get("recall")
                                        for c in classes] for r in e.per_class},
                   "Recall per class") if classes else None
    return render(request, "compare.html", evaluation=e, roles=roles, metrics=metrics,
                  bars=bars, slices=slices, recall=recall, classes=classes, problem=None,
                  **context)


# -- deployments ---------------------------------------------------------------------------
def traffic_rows(dep: DeploymentPublic) -> list[dict[str, Any]]:
    """One row per release a deployment runs: its share, its part, the rollout's mode."""
    rows = [{"release_id": dep.release.release_id, "model": dep.release.model,
             "version": dep.release.version, "role": "serving",
             "weight": dep.traffic.get(dep.release.release_id, 0)}]
    if dep.rollout is not None:
        c = dep.rollout.candidate
        rows.append({"release_id": c.release_id, "model": c.model, "version": c.version,
                     "role": f"{dep.rollout.mode.value} candidate",
                     "weight": dep.traffic.get(c.release_id, 0)})
    if dep.previous_release_id and dep.previous_release_id not in {r["release_id"] for r in rows}:
        prev = dep.previous_release_id
        model, _, rest = prev.partition("-v")
        version = rest.split("-", 1)[0]
        rows.append({"release_id": prev, "model": model,
                     "version": int(version) if version.isdigit() else None,
                     "role": "previous (kept for rollback)", "weight": dep.traffic.get(prev, 0)})
    return rows


@router.get("/deployments")
def deployments_page(request: Request, me: CallerDep,
                     after: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None) -> Response:
    app = app_of(request)
    admit(app, me, "list_deployments", "deployment")
    every = sorted(app.deployments.list_all(), key=lambda d: d.name)
    shown = [d for d in every if after is None or d.name > after]
    page = shown[:PAGE_SIZE]
    return render(request, "deployments.html", me=me, nav="deployments",
                  deployments=[(d, traffic_rows(d)) for d in page],
                  more=page[-1].name if len(shown) > PAGE_SIZE else None, after=after)


def deployment_context(app: Application, me: Caller, name: str) -> dict[str, Any]:
    dep = app.deployments.get(name)
    team = dep.team
    policy = app.policy
    model_team = app.models.team(dep.release.model)
    shadow = None
    if dep.rollout is not None and dep.rollout.mode.value == "shadow":
        shadow = app.deployments.shadow_report(name)
    return {
        "me": me, "nav": "deployments", "dep": dep, "rows": traffic_rows(dep),
        "shadow": shadow,
        "may": {a: policy.allows(me.who, a, team=team, model_team=model_team) for a in (
            "start_rollout", "update_rollout", "promote_rollout", "abort_rollout",
            "rollback_deployment", "delete_deployment", "create_deployment")},
        "may_override": policy.allows(me.who, "override_gate", team=model_team),
        "jobs": app.jobs_page(me.who, target=name, limit=10),
    }


@router.get("/deployments/{name}")
def deployment_page(request: Request, me: CallerDep, name: Name) -> Response:
    app = app_of(request)
    admit(app, me, "get_deployment", resource("deployment", name))
    return render(request, "deployment.html", **deployment_context(app, me, name))


@router.get("/deployments/{name}/state")
def deployment_state(request: Request, me: CallerDep, name: Name) -> Response:
    """The live part of a deployment's page (status, traffic split, the actions its state
    allows): fetched again whenever a job of the page ends."""
    app = app_of(request)
    admit(app, me, "get_deployment", resource("deployment", name))
    return render(request, "_deployment_state.html", **deployment_context(app, me, name))


# -- jobs and audit ----------------------------------------------------------------------
@router.get("/jobs")
def jobs_page(request: Request, me: CallerDep,
              kind: JobKind | None = None, state: JobState | None = None,
              target: Annotated[str | None, Query(max_length=200)] = None,
              before: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None) -> Response:
    app = app_of(request)
    admit(app, me, "list_jobs", "job")
    found = app.jobs_page(me.who, kind=kind.value if kind else None,
                          state=state.value if state else None,
                          target=target or None, before=before, limit=PAGE_SIZE + 1)
    return render(request, "jobs.html", me=me, nav="jobs", jobs=found[:PAGE_SIZE],
                  more=found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None,
                  kinds=[k.value for k in JobKind], states=[s.value for s in JobState],
                  kind=kind.value if kind else "", state=state.value if state else "",
                  target=target or "")


def job_context(app: Application, me: Caller, job_id: str, after: int = 0) -> dict[str, Any]:
    job = app.job(job_id, me.who)
    return {"job": job, "logs": app.jobs.store.logs(job_id, after),
            "done": job.state in ("succeeded", "failed")}


@router.get("/jobs/{job_id}")
def job_page(request: Request, me: CallerDep, job_id: JobId) -> Response:
    app = app_of(request)
    admit(app, me, "get_job", resource("job", job_id))
    return render(request, "job.html", me=me, nav="jobs", **job_context(app, me, job_id))


@router.get("/jobs/{job_id}/live")
def job_live(request: Request, me: CallerDep, job_id: JobId) -> Response:
    """A job's progress and log, polled every second by the page until the job ends; the
    answer that sees it end tells the page (``ferry-job-done``) to refresh what it shows."""
    app = app_of(request)
    admit(app, me, "get_job_logs", resource("job", job_id))
    context = job_context(app, me, job_id)
    headers = {"HX-Trigger": "ferry-job-done"} if context["done"] else None
    return render(request, "_job.html", me=me, headers=headers, **context)


@router.get("/audit")
def audit_page(request: Request, me: CallerDep,
               team: Annotated[str | None, Query(max_length=63)] = None,
               actor: Annotated[str | None, Query(max_length=100)] = None,
               resource_: Annotated[str | None, Query(alias="resource", max_length=200)] = None,
               action: Annotated[str | None, Query(max_length=60)] = None,
               before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    app = app_of(request)
    admit(app, me, "list_audit_events", "audit")
    found = app.audit_events(me.who, actor=actor or None, resource=resource_ or None,
                             team=team or None, action=action or None, limit=PAGE_SIZE + 1,
                             before=before)
    return render(request, "audit.html", me=me, nav="audit", events=found[:PAGE_SIZE],
                  more=found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None,
                  team=team or "", actor=actor or "", resource=resource_ or "",
                  action=action or "", teams=app.identity.team_names())


# -- features ----------------------------------------------------------------------------
@router.get("/features")
def features_page(request: Request, me: CallerDep,
                  after: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Views by name (a page of them), their versions and freshness, and which models pin
    which version: each model's newest version and every version deployed."""
    app = app_of(request)
    admit(app, me, "list_feature_views", "features")
    problem = None
    try:
        every = sorted(app.features.port.views(), key=lambda v: v.name)
        freshness = app.features.port.freshness()
    except FerryError as e:
        every, freshness, problem = [], [], e.message
    shown = [v for v in every if after is None or v.name > after]
    views = shown[:PAGE_SIZE]
    pins: dict[str, list[dict[str, Any]]] = {}
    for v in _pinning_versions(app):
        for ref in v.get("feature_refs") or []:
            view = ref.split(":", 1)[0]
            pins.setdefault(view.split("@", 1)[0], []).append(
                {"model": v["name"], "version": v["version"], "ref": ref})
    now = datetime.now(UTC)
    fresh = {(f.view, f.version): {"fresh": f.fresh(now), "newest": f.newest} for f in freshness}
    return render(request, "features.html", me=me, nav="features", views=views,
                  fresh=fresh, pins=pins, problem=problem,
                  more=views[-1].name if len(shown) > PAGE_SIZE else None)


def _pinning_versions(app: Application) -> list[dict[str, Any]]:
    """Each model's newest version, and every version a deployment serves or tries (an
    older deployed version may pin an older feature view version)."""
    found = {(v["name"], v["version"]): v for v in app.models.newest_versions(limit=100_000)}
    for d in app.deployments.list_all():
        for rel in (d.release, d.rollout.candidate if d.rollout else None):
            if rel is not None and (rel.model, rel.version) not in found:
                try:
                    found[(rel.model, rel.version)] = app.models.cached_version(rel.model,
                                                                                rel.version)
                except FerryError:  # a version gone from the registry pins nothing here
                    continue
    return sorted(found.values(), key=lambda v: (v["name"], -int(v["version"])))


# -- access --------------------------------------------------------------------------------
@router.get("/access")
def access_page(request: Request, me: CallerDep,
                after: Annotated[str | None, Query(pattern=TEAM_PATTERN)] = None,
                tokens_before: Annotated[str | None, Query(pattern=r"^[0-9a-f]{12}$")] = None,
                ) -> Response:
    """Teams and their members (team admins change them), and one's own tokens."""
    app = app_of(request)
    admit(app, me, "list_teams", "team")
    names = [n for n in app.identity.team_names() if after is None or n > after]
    teams = []
    for name in names[:PAGE_SIZE]:
        description, members = app.identity.team(name)
        teams.append({"name": name, "description": description, "members": members,
                      "may_manage": app.policy.allows(me.who, "set_member", team=name)})
    own: list[Any] = sorted((t for t in app.identity.tokens(me.who)
                             if getattr(t, "user", None) == me.user),
                            key=lambda t: (t.created_at, t.id), reverse=True)
    if tokens_before is not None:
        ids = [t.id for t in own]
        own = own[ids.index(tokens_before) + 1:] if tokens_before in ids else []
    return render(request, "access.html", me=me, nav="access", teams=teams,
                  more_teams=teams[-1]["name"] if len(names) > PAGE_SIZE else None,
                  tokens=own[:PAGE_SIZE],
                  more_tokens=own[PAGE_SIZE - 1].id if len(own) > PAGE_SIZE else None,
                  may_create_team=app.policy.allows(me.who, "create_team"),
                  roles=["viewer", "deployer", "admin"], issued=None)


__all__ = ["TEAM_PATTERN", "deployment_context", "job_context", "traffic_rows"]
