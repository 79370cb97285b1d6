"""One way to run a change as a job: recorded, audited when accepted and when it ends."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ferry_contract import JobKind, error_from_body
from ferry_platform.access import AccessService, Principal
from ferry_platform.jobs import JobContext, JobRunner, JobStore
from ferry_platform.store import JobRecord

Run = Callable[[JobContext], dict[str, Any]]


def _distinct(teams: Iterable[str | None]) -> list[str | None]:
    """The teams concerned, each once (None, "no team", only if no team is)."""
    out: list[str | None] = []
    for t in teams:
        if t is not None and t not in out:
            out.append(t)
    return out or [None]


class Audit:
    """Writes one audit event per team concerned (a change of one team's deployment that
    moves another team's model is seen by both)."""

    def __init__(self, access: AccessService) -> None:
        self._access = access

    def __call__(self, who: Principal, action: str, resource: str,
                 teams: Iterable[str | None], outcome: str = "ok",
                 details: dict[str, Any] | None = None) -> None:
        concerned = _distinct(teams)
        if who.scope == "pipeline":  # what a pipeline run did is read back by its token
            details = {**(details or {}), "token": who.token_id}
        for team in concerned:
            extra = {"teams": [t for t in concerned if t]} if len(concerned) > 1 else {}
            self._access.audit(who, action, resource, team, outcome, {**(details or {}), **extra})


class AuditedJobs:
    """``submit`` records the job (taking ``lock``: 409 if held), audits ``<kind>.start``
    as accepted, runs ``run`` in the background and audits ``<kind>`` as succeeded (with
    ``summary(result)``) or failed (with the error). ``before`` adds what the resource
    looked like when the job started."""

    def __init__(self, runner: JobRunner, store: JobStore, audit: Audit) -> None:
        self.runner = runner
        self.store = store
        self._audit = audit

    def submit(self, who: Principal, kind: JobKind, target: str, resource: str,
               teams: Iterable[str | None], payload: dict[str, Any], run: Run, *,
               lock: str | None = None,
               before: Callable[[], dict[str, Any]] | None = None,
               summary: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
               long: bool = False) -> JobRecord:
        concerned = _distinct(teams)

        def work(ctx: JobContext) -> dict[str, Any]:
            what = {**payload, "job": ctx.job_id, **(before() if before else {})}
            try:
                result = run(ctx)
            except Exception as e:
                self._audit(who, kind.value, resource, concerned, "failed",
                            {**what, "error": str(e)[:300]})
                raise
            self._audit(who, kind.value, resource, concerned, "succeeded",
                        {**what, **(summary(result) if summary else {})})
            return result

        job: JobRecord = self.runner.submit(kind.value, target, who.user, concerned[0], payload,
                                            work, lock=lock, long=long)
        self._audit(who, f"{kind.value}.start", resource, concerned, "accepted",
                    {**payload, "job": job.id})
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        record: JobRecord = self.runner.wait(job_id, timeout)
        return record

    def done(self, job: JobRecord) -> JobRecord:
        """Wait for a short job (undeploy, an access change) and raise its error, typed, as
        the API would answer it; its record when it succeeded."""
        record = self.wait(job.id)
        if record.error:
            raise error_from_body({"error": record.error},
                                  status=int(record.error.get("status", 500)))
        return record
