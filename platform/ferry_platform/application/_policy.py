"""Who may do what, and what is recorded: the one table every surface is checked against.

Each action is the operation id of its control-plane route (the SDK, the CLI and the
portal all reach the platform through those routes), plus ``predict``, which the data
plane checks in each deployment's router. A rule names the role needed and *where* it is
needed:

- ``open``: no token (only the health probe);
- ``authenticated``: any valid token;
- ``self``: the caller's own tokens (platform admins: anyone's);
- ``model team`` / ``deployment team``: that role in the team owning the model, or the
  deployment, the request is about;
- ``deployment and model team``: both, when a change of a deployment also moves a model
  of another team (rollout of another team's version, promote);
- ``team``: that role in the team named in the path;
- ``any team``: that role in at least one team (platform-wide resources: features);
- ``feature view team``: that role in the team owning the feature view (its Feast tag
  ``team``; a view without one: platform admins only);
- ``platform``: platform admins only.

Platform admins pass every rule. A token with the ``predict`` scope passes only the rules
marked ``predict_token`` (reading a deployment's endpoints, ``whoami``, and predicting).

Some reads answer only what belongs to the caller's teams (:meth:`Policy.may_read`): the
audit log, alerts, pipelines and their runs, and jobs whose request holds a team's own
data (:data:`TEAM_PRIVATE_JOBS`: batch scoring's paths, a pipeline run's parameters). One
of another team's is answered exactly as a missing one (404), so that its existence does
not leak either.
docs/security.md renders this table; a test keeps the two in step and another checks
that every route has exactly one rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from ferry_contract import Forbidden, JobKind
from ferry_platform.access import AccessService, Principal


class Scope(str, Enum):
    open = "open"
    authenticated = "authenticated"
    self = "self"
    model_team = "model team"
    deployment_team = "deployment team"
    deployment_and_model_team = "deployment and model team"
    team = "team"
    any_team = "any team"
    pipeline_team = "pipeline team"
    feature_view_team = "feature view team"
    platform = "platform"


@dataclass(frozen=True)
class Rule:
    scope: Scope
    role: str | None = None  # viewer / deployer / admin; None: no role needed
    predict_token: bool = False  # a predict-only token may do it
    note: str = ""

    def describe(self) -> str:
        if self.scope is Scope.open:
            return "anyone, no token"
        if self.scope is Scope.authenticated:
            return "any valid token"
        if self.scope is Scope.self:
            return "the caller, for itself (platform admins: for anyone)"
        if self.scope is Scope.platform:
            return "platform admins"
        return f"{self.role} in the {self.scope.value}"


NOT_ROUTES = ("predict", "override_gate")
"""Actions checked inside other calls rather than being routes of their own."""

_READ = Rule(Scope.authenticated)
_MINE = "{} of the caller's teams (platform admins: all)"
_MINE_ONE = ("only of the caller's teams (platform admins: all): another team's is a 404, "
             "as if missing")
POLICY: dict[str, Rule] = {
    # platform
    "get_health": Rule(Scope.open, predict_token=True,
                       note="up or down only; details need a token"),
    "get_platform_info": Rule(Scope.authenticated, predict_token=True),
    "whoami": Rule(Scope.authenticated, predict_token=True),
    # models and versions
    "list_models": _READ,
    "get_model": _READ,
    "list_model_versions": _READ,
    "get_model_version": _READ,
    "put_model": Rule(Scope.model_team, "deployer",
                      note="a new model is claimed for the caller's (or the named) team"),
    "upload_logged_model": Rule(Scope.model_team, "deployer",
                                note="checked, capped, never loaded by the control plane"),
    "create_model_version": Rule(Scope.model_team, "deployer",
                                 note="only a model logged through upload_logged_model"),
    # evaluation
    "list_eval_sets": _READ,
    "create_eval_set": Rule(Scope.model_team, "deployer",
                            note="a new version; the gate keeps using its pinned set"),
    "get_gate": _READ,
    "put_gate": Rule(Scope.model_team, "admin",
                     note="thresholds, guardrails, and the pinned evaluation set the gate uses"),
    "list_evaluations": _READ,
    "create_evaluation": Rule(Scope.model_team, "deployer"),
    "compare_versions": _READ,
    "set_champion": Rule(Scope.model_team, "deployer", note="through the gate"),
    "override_gate": Rule(Scope.model_team, "admin",
                          note="with a reason, audited: set_champion, start_rollout or "
                               "promote_rollout of a version that failed its gate"),
    # releases and deployments
    "list_releases": _READ,
    "get_release": _READ,
    "list_deployments": _READ,
    "get_deployment": Rule(Scope.authenticated, predict_token=True),
    "create_deployment": Rule(Scope.model_team, "deployer",
                              note="replacing another team's deployment also needs deployer "
                                   "there"),
    "delete_deployment": Rule(Scope.deployment_team, "deployer"),
    "update_deployment_access": Rule(Scope.deployment_team, "admin",
                                     note="e.g. allow anonymous predictions"),
    "start_rollout": Rule(Scope.deployment_and_model_team, "deployer"),
    "update_rollout": Rule(Scope.deployment_team, "deployer"),
    "promote_rollout": Rule(Scope.deployment_and_model_team, "deployer",
                            note="the candidate's model's champion moves"),
    "abort_rollout": Rule(Scope.deployment_team, "deployer"),
    "rollback_deployment": Rule(
        Scope.deployment_team, "deployer",
        note="the champion follows only if the caller is a deployer of the model's team too"),
    "shadow_report": _READ,
    # monitoring
    "get_monitoring_report": Rule(Scope.deployment_team, "viewer",
                                  note="the latest report (production data of the team)"),
    "run_monitoring": Rule(Scope.deployment_team, "viewer",
                           note="a job whose result is the report of a window; only a "
                                "deployer's opens or resolves alerts"),
    "log_outcomes": Rule(Scope.deployment_team, "deployer", predict_token=True,
                         note="labels and business values joined by request id; a "
                              "deployer's predict-only token may (the service that saw "
                              "the outcome)"),
    "get_monitor": _READ,
    "put_monitor": Rule(Scope.deployment_team, "deployer",
                        note="thresholds, and a canary analysis that rolls back, steps up "
                             "or promotes by itself (as the platform, audited)"),
    "list_alerts": Rule(Scope.authenticated, note=_MINE.format("alerts")),
    "get_metrics": Rule(Scope.authenticated, predict_token=True,
                        note="Prometheus text format; give the scraper a predict-only token"),
    "predict": Rule(Scope.deployment_team, "viewer", predict_token=True,
                    note="checked by the deployment's router; anonymous only where a team "
                         "admin allowed it"),
    # pipelines
    "list_pipelines": Rule(Scope.authenticated, note=_MINE.format("pipelines")),
    "get_pipeline": Rule(Scope.authenticated, note=_MINE_ONE),
    "put_pipeline": Rule(Scope.pipeline_team, "deployer",
                         note="its code runs isolated, with a token of its own per run"),
    "delete_pipeline": Rule(Scope.pipeline_team, "deployer"),
    "run_pipeline": Rule(Scope.pipeline_team, "deployer",
                         note="queued or skipped (the pipeline's overlap) if a run is under way"),
    "list_pipeline_runs": Rule(Scope.authenticated, note=_MINE.format("runs")),
    "get_pipeline_run": Rule(Scope.authenticated, note=_MINE_ONE),
    # jobs and audit
    "list_jobs": Rule(Scope.authenticated,
                      note="batch scoring and pipeline jobs only of the caller's teams "
                           "(platform admins: all); other kinds of every team"),
    "get_job": Rule(Scope.authenticated, note="batch scoring and pipeline jobs " + _MINE_ONE),
    "get_job_logs": Rule(Scope.authenticated,
                         note="batch scoring and pipeline jobs " + _MINE_ONE),
    "list_audit_events": Rule(Scope.authenticated, note=_MINE.format("events")),
    # batch scoring
    "create_batch_job": Rule(Scope.model_team, "deployer",
                             note="scores with the deployment's release; the model's team; "
                                  "source and dest only under that team's data roots "
                                  "(FERRY_BATCH_ROOTS), else 403"),
    "list_batch_jobs": Rule(Scope.authenticated, note=_MINE.format("batch jobs")),
    "list_batch_roots": Rule(Scope.authenticated,
                             note="the data roots of the teams the caller deploys for "
                                  "(platform admins: all)"),
    "get_batch_job": Rule(Scope.authenticated, note=_MINE_ONE),
    # features
    "list_feature_views": _READ,
    "list_feature_freshness": _READ,
    "plan_features": _READ,
    "apply_features": Rule(Scope.any_team, "deployer"),
    "materialize_features": Rule(Scope.any_team, "deployer"),
    "create_training_set": Rule(Scope.any_team, "deployer"),
    "list_materialization_schedules": _READ,
    "put_materialization_schedule": Rule(Scope.feature_view_team, "deployer",
                                         note="the team of the view's Feast tag 'team' (none: "
                                              "platform admins); each due time materializes "
                                              "the view as the platform, audited"),
    "delete_materialization_schedule": Rule(Scope.feature_view_team, "deployer"),
    # teams, users, tokens
    "list_teams": _READ,
    "create_team": Rule(Scope.platform),
    "set_member": Rule(Scope.team, "admin"),
    "remove_member": Rule(Scope.team, "admin"),
    "list_users": _READ,
    "create_user": Rule(Scope.platform),
    "update_user": Rule(Scope.platform, note="disable a user, grant or take platform admin"),
    "create_token": Rule(Scope.self, note="non-expiring tokens: held by platform admins only"),
    "list_tokens": Rule(Scope.self),
    "revoke_token": Rule(Scope.self),
    # the portal
    "create_sign_in_link": Rule(
        Scope.authenticated,
        note="a one-time portal sign-in link for the caller's own token (the portal's "
             "sign-in form applies the same rule); not with a predict-only token"),
}


PIPELINE_WRITES = frozenset({
    "put_model", "create_model_version", "upload_logged_model", "create_training_set",
    "create_evaluation", "start_rollout"})
"""The only changes a pipeline run's token (scope ``pipeline``) may make, whoever it acts
for: a training set, a registered model and version (registering writes the model's
record), its evaluation, a canary (the gate applies)."""


TEAM_PRIVATE_JOBS = frozenset({JobKind.batch_score.value, JobKind.pipeline.value})
"""Job kinds whose request holds a team's own data (a batch job's source and destination
paths, a pipeline run's parameters): listed and shown only to their team's members."""


def pipeline_may(action: str) -> bool:
    """Whether a pipeline run's token may do ``action``: read, or one of
    :data:`PIPELINE_WRITES` (an allow-list: a new operation is refused until listed)."""
    return action in PIPELINE_WRITES or action.startswith(("get_", "list_")) or action in (
        "whoami", "compare_versions", "plan_features", "shadow_report")


def resource(kind: str, name: str) -> str:
    """The audit log's name of a resource: ``deployment/churn``, ``model/churn``, ..."""
    return f"{kind}/{name}"


_KINDS = {"models": "model", "releases": "release", "deployments": "deployment",
          "jobs": "job", "features": "features", "training-sets": "training-set",
          "teams": "team", "users": "user", "tokens": "token", "audit": "audit",
          "platform": "platform", "whoami": "user", "portal": "portal", "alerts": "alert",
          "metrics": "metrics", "batch-jobs": "batch-job",
          "pipelines": "pipeline", "pipeline-runs": "pipeline-run"}


def route_resource(path: str, params: dict[str, str]) -> str | None:
    """The resource a request names by its path, as the audit log names it:
    ``/v1/deployments/{name}/rollback`` with ``name=churn`` is ``deployment/churn``;
    a collection (``/v1/deployments``) is its kind alone. None for other paths."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[1] not in _KINDS:
        return None
    kind = _KINDS[parts[1]]
    if len(parts) > 2 and parts[2].startswith("{"):
        value = params.get(parts[2].strip("{}"))
        if value is not None:
            return resource(kind, str(value))
    return kind


class Policy:
    """Checks callers against :data:`POLICY` and records refusals in the audit log."""

    def __init__(self, access: AccessService) -> None:
        self._access = access

    @staticmethod
    def rule(action: str) -> Rule:
        try:
            return POLICY[action]
        except KeyError:  # a route without a rule is a bug, never an open door
            raise Forbidden(f"{action!r} has no access rule; nobody may do it") from None

    def admit(self, who: Principal, action: str, resource: str | None = None) -> None:
        """What can be checked before the request is read: the token's scope, and rules
        that need no resource (platform admins, a role in any team). A refusal is audited
        under ``resource`` (what the request names, e.g. ``deployment/churn``)."""
        rule = self.rule(action)
        if who.scope == "predict" and not rule.predict_token:
            self._deny(who, action, resource, None,
                       f"the token {who.token_id} may only predict; use a token without the "
                       "predict scope (`ferry tokens create`)")
        if who.scope == "pipeline" and not pipeline_may(action):
            self._deny(who, action, resource, None,
                       f"the token {who.token_id} is a pipeline run's: it may read, build a "
                       "training set, register and evaluate a version and start a canary, "
                       "never more (move the champion, promote, deploy, change data or "
                       "access); a person does that")
        if rule.scope is Scope.platform and not who.is_admin:
            self._deny(who, action, resource, "platform admin",
                       f"that needs the platform admin role, and {who.user!r} is not a "
                       "platform admin; ask one")
        if rule.scope is Scope.any_team and rule.role and not (
                who.is_admin or who.teams_with(rule.role)):
            self._deny(who, action, resource, rule.role,
                       f"that needs the {rule.role} role in at least one team; ask a team admin")

    def require(self, who: Principal, action: str, *, resource: str,
                team: str | None = None, model_team: str | None = None,
                owner: str | None = None) -> None:
        """Raise :class:`Forbidden` (audited under ``resource``) unless ``who`` may do
        ``action`` on a resource of ``team`` (and, for rules on both, of ``model_team``;
        for ``self`` rules, one of ``owner``'s)."""
        rule = self.rule(action)
        self.admit(who, action, resource)
        if rule.scope is Scope.self:
            if owner is not None and owner != who.user and not who.is_admin:
                self._deny(who, action, resource, "platform admin",
                           f"acting for {owner!r} needs the platform admin role; ask one")
            return
        need = rule.role or "viewer"
        if rule.scope is Scope.deployment_and_model_team:
            teams = [team, model_team] if model_team != team else [team]
        elif rule.scope in (Scope.model_team, Scope.deployment_team, Scope.team,
                            Scope.pipeline_team, Scope.feature_view_team):
            teams = [team]
        else:
            teams = []
        for t in teams:
            if t is None and rule.scope is Scope.feature_view_team and not who.is_admin:
                self._deny(who, action, resource, "platform admin",
                           "the feature view has no team (no Feast tag 'team' in its "
                           "definition), so that needs the platform admin role; tag the "
                           "view with its team (tags={'team': ...}) and apply the "
                           "definitions, or ask a platform admin")
            if not who.can(need, t):
                have = who.role_in(t)
                where = f"team {t!r}" if t else "any team"
                fix = (f"ask an admin of {t!r} for the {need} role (`ferry teams add-member "
                       f"{t} {who.user} --role {need}`)") if t else "ask a platform admin"
                self._deny(who, action, resource, need,
                           f"that needs the {need} role in {where}, and {who.user!r} is "
                           f"{'a ' + have + ' there' if have else 'not a member'}; {fix}",
                           team=t)

    def _deny(self, who: Principal, action: str, res: str | None, needs: str | None,
              why: str, team: str | None = None) -> None:
        self._access.audit(who, action, res or "-", team, "denied",
                           {"needs": needs} if needs else {})
        raise Forbidden(f"{who.user!r} may not {action.replace('_', ' ')}"
                        f"{' ' + res if res else ''}: {why}.",
                        details={"user": who.user, "action": action, "team": team,
                                 "needs": needs, "has": who.role_in(team)})

    def allows(self, who: Principal, action: str, *, team: str | None = None,
               model_team: str | None = None, owner: str | None = None) -> bool:
        """Whether :meth:`require` would let ``who`` do ``action`` (nothing audited): for
        a surface deciding which controls to show. Only :meth:`require` authorizes."""
        rule = self.rule(action)
        if who.scope == "predict" and not rule.predict_token:
            return False
        if who.scope == "pipeline" and not pipeline_may(action):
            return False
        if rule.scope in (Scope.open, Scope.authenticated) or who.is_admin:
            return True
        if rule.scope is Scope.platform:
            return False
        if rule.scope is Scope.self:
            return owner is None or owner == who.user
        need = rule.role or "viewer"
        if rule.scope is Scope.any_team:
            return bool(who.teams_with(need))
        teams = [team]
        if rule.scope is Scope.deployment_and_model_team and model_team not in (None, team):
            teams.append(model_team)
        return all(who.can(need, t) for t in teams)

    @staticmethod
    def may(who: Principal, role: str, team: str | None) -> bool:
        return who.can(role, team)

    @staticmethod
    def readable_teams(who: Principal) -> list[str] | None:
        """The teams whose own records ``who`` reads (audit events, alerts, pipelines and
        their runs, :data:`TEAM_PRIVATE_JOBS`): each it has a role in, any role; None:
        every team's, and those of no team (platform admins)."""
        return None if who.is_admin else sorted(who.roles)

    @classmethod
    def may_read(cls, who: Principal, team: str | None) -> bool:
        """Whether ``who`` reads a record of ``team`` (see :meth:`readable_teams`). A read
        refused here answers as if the record were missing (404), never 403."""
        teams = cls.readable_teams(who)
        return teams is None or (team is not None and team in teams)

    @staticmethod
    def table() -> list[dict[str, Any]]:
        """The rules as rows (docs, the portal, tests)."""
        return [{"action": a, "who": r.describe(), "predict_token": r.predict_token,
                 "note": r.note} for a, r in POLICY.items()]


