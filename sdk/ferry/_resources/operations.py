"""``client.operations``: the jobs behind every long operation, their logs, waiting on one."""

from __future__ import annotations

from ferry._transport import Progress, Transport
from ferry_contract import JobKind, JobLogLine, JobPublic, JobState


class Operations:
    """Jobs: deploys, rollouts, evaluations, materializations, reconciles, as the control
    plane runs them."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def jobs(self, *, kind: JobKind | str | None = None, target: str | None = None,
             state: JobState | str | None = None, limit: int = 50) -> list[JobPublic]:
        """Recent jobs, newest first."""
        params = {k: (v.value if isinstance(v, (JobState, JobKind)) else v) for k, v in
                  {"kind": kind, "target": target, "state": state, "limit": limit}.items()
                  if v is not None}
        return [JobPublic.model_validate(j)
                for j in self._transport.request("GET", "/v1/jobs", params=params)]

    def job(self, job_id: str) -> JobPublic:
        return self._transport.job(job_id)

    def job_logs(self, job_id: str, after: int = 0) -> list[JobLogLine]:
        return [JobLogLine.model_validate(line) for line in
                self._transport.request("GET", f"/v1/jobs/{job_id}/logs", params={"after": after})]

    def wait(self, job: JobPublic | str, *, on_progress: Progress | None = None,
             timeout_s: float | None = None, poll_s: float = 0.3) -> JobPublic:
        """Follow a job until it ends. Returns it if it succeeded; raises its error (the
        same typed exception the API would) if it failed."""
        return self._transport.wait(job, on_progress=on_progress, timeout_s=timeout_s, poll_s=poll_s)
