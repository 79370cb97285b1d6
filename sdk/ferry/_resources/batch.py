"""``client.batch``: score whole tables with a deployment's release (Ray Data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ferry._transport import Progress, Transport, validation_message
from ferry_contract import BatchRootsPublic, BatchScoreCreate, InvalidRequest, JobPublic


class Batch:
    """Batch scoring jobs: a Parquet/CSV table (local or S3) in, Parquet with the release
    id and lineage on every row out."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def score(self, deployment: str, *, source: str, dest: str,
              as_of: datetime | str | None = None, keep: list[str] | None = None,
              release_id: str | None = None, wait: bool = True,
              on_progress: Progress | None = None,
              timeout_s: float | None = None) -> JobPublic:
        """Score ``source`` with the release ``deployment`` serves into ``dest``.

        Features the model was trained on are joined point-in-time at ``as_of`` (or each
        row's ``event_timestamp``). The input's columns are checked first: a column the
        model lacks or needs is refused (:class:`ferry.InvalidInput`) before anything is
        scored; ``keep`` carries extra columns (an id) to the output. With ``wait`` (the
        default) follows the job, ``on_progress(step, percent)`` seeing each step, and
        returns it finished (``job.result``: rows, lineage); else returns it started."""
        try:
            body = BatchScoreCreate(deployment=deployment, source=source, dest=dest,
                                    as_of=as_of, keep=list(keep or []),  # type: ignore[arg-type]
                                    release_id=release_id).model_dump(mode="json")
        except ValidationError as e:
            raise InvalidRequest(f"cannot start batch scoring: {validation_message(e)}") from e
        job = JobPublic.model_validate(self._transport.request("POST", "/v1/batch-jobs",
                                                               json=body))
        if not wait:
            return job
        return self._transport.wait(job, on_progress=on_progress, timeout_s=timeout_s)

    def roots(self) -> dict[str, list[str]]:
        """Per team you deploy for, where its batch jobs may read and write: ``source``
        and ``dest`` lie under one of these (a relative location goes under the first)."""
        return {r.team: r.roots for r in (BatchRootsPublic.model_validate(x) for x in
                                          self._transport.request("GET", "/v1/batch-jobs/roots"))}

    def get(self, job_id: str) -> JobPublic:
        """One batch job (``result``: rows scored, release id, source digest, ...)."""
        return JobPublic.model_validate(self._transport.request("GET",
                                                                f"/v1/batch-jobs/{job_id}"))

    def list(self, limit: int = 50, before: str | None = None) -> list[JobPublic]:
        """Batch jobs, newest first; the next page with ``before`` (the last job id
        seen)."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return [JobPublic.model_validate(j) for j in self._transport.request(
            "GET", "/v1/batch-jobs", params=params)]
