"""Batch scoring as the API starts it: deployers of the model's team; checked (release,
columns, output) before the job is accepted, then run as an audited job with progress."""

from __future__ import annotations

from typing import Any

from ferry_contract import BatchScoreCreate, InvalidRequest, JobKind, JobNotFound
from ferry_platform.access import AccessService, Principal
from ferry_platform.application._audited import AuditedJobs
from ferry_platform.application._policy import Policy, resource
from ferry_platform.jobs import JobContext
from ferry_platform.releases import BatchScoring
from ferry_platform.store import JobRecord


class Batch:
    def __init__(self, *, policy: Policy, access: AccessService, jobs: AuditedJobs,
                 scoring: BatchScoring) -> None:
        self._policy = policy
        self._access = access
        self._jobs = jobs
        self._scoring = scoring

    def score(self, body: BatchScoreCreate, who: Principal) -> JobRecord:
        """Refuse what cannot run (unknown deployment, a column the model lacks or needs,
        an output that holds files) now, with a 4xx; then start the job."""
        res = resource("deployment", body.deployment)
        self._policy.admit(who, "create_batch_job", res)
        manifest = self._scoring.release_of(body)
        team = self._access.model_team(manifest.model)
        self._policy.require(who, "create_batch_job", resource=res, team=team)
        if team is None:  # registered before teams: no team's data roots to read from
            raise InvalidRequest(
                f"model {manifest.model!r} belongs to no team, so its batch jobs have no data "
                f"roots; give it one first (PUT /v1/models/{manifest.model} with a team)",
                details={"model": manifest.model})
        plan = self._scoring.plan(body, team)

        def run(ctx: JobContext) -> dict[str, Any]:
            total = plan.spec.source.rows
            ctx.step(f"scoring {plan.spec.source.format} input ({len(plan.spec.source.files)} "
                     f"file(s){f', {total:,} rows' if total else ''}) with "
                     f"{plan.manifest.release_id}", 1)

            def progress(done: int, rows: int | None) -> None:
                pct = min(99, 1 + int(98 * done / rows)) if rows else 50
                ctx.step(f"scored {done:,}{f' of {rows:,}' if rows else ''} rows", pct)

            result = self._scoring.run(plan, progress)
            ctx.step(f"scored {result['rows']:,} rows into {plan.request.dest}", 100)
            return result

        payload = {**plan.request.model_dump(mode="json"), "release_id": plan.manifest.release_id,
                   "model": plan.manifest.model, "version": plan.manifest.version}
        return self._jobs.submit(
            who, JobKind.batch_score, body.deployment, res, [team], payload, run, long=True,
            summary=lambda r: {"rows": r.get("rows"), "dest": plan.request.dest,
                               "source_digest": r.get("source_digest")})

    def roots(self, who: Principal) -> list[tuple[str, list[str]]]:
        """(team, data roots) of each team ``who`` may score for (admins: every team)."""
        self._policy.admit(who, "list_batch_roots")
        teams = self._access.team_names() if who.is_admin else who.teams_with("deployer")
        return [(t, self._scoring.roots(t)) for t in teams]

    def get(self, job_id: str, who: Principal) -> JobRecord:
        """A batch job of ``who``'s teams (its request names the source and destination
        paths); another team's answers exactly as a missing one."""
        record: JobRecord | None = self._jobs.store.get(job_id)
        if record is None or record.kind != JobKind.batch_score.value or \
                not self._policy.may_read(who, record.team):
            raise JobNotFound(f"no batch job {job_id!r}; list them with `ferry batch list` "
                              "(GET /v1/batch-jobs).")
        return record

    def list(self, who: Principal, limit: int = 50,
             before: str | None = None) -> list[JobRecord]:
        """Newest first, the batch jobs of ``who``'s teams (platform admins: all);
        ``before``: the id of the last one seen (the next page)."""
        cursor = None
        if before is not None:
            last = self.get(before, who)
            cursor = (last.created_at, last.id)
        return list(self._jobs.store.find(kind=JobKind.batch_score.value, limit=limit,
                                          before=cursor,
                                          teams=self._policy.readable_teams(who)))
