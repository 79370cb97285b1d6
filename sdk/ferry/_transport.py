"""The SDK's one road to a control plane: HTTP, the bearer token, errors, jobs.

Every resource sub-client (``ferry/_resources/``) sends its requests through one
:class:`Transport`, so each answer of 400 or more becomes the contract's exception for its
code (a code the SDK does not know maps by its HTTP status), a control plane that does not
answer becomes :class:`~ferry_contract.PlatformUnavailable`, and a long operation is
followed the same way everywhere (:meth:`Transport.wait`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from ferry import _credentials as credentials
from ferry._config import ClientSettings
from ferry_contract import JobPublic, JobState, PlatformUnavailable, error_from_body

Progress = Callable[[str, int], None]
"""``on_progress(step, percent)``: called as a job moves to a new step."""


class Transport:
    """An HTTP connection to one control plane, authenticated with one token.

    ``url`` defaults to ``FERRY_URL``; the token to ``token``, else ``FERRY_TOKEN``, else the
    one ``ferry login`` saved for that URL. ``http_transport`` (any sync httpx transport) or
    ``http_client`` (a ready ``httpx.Client``) are the seams tests use to reach a control
    plane in-process.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout_s: float | None = None,
        http_transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = ClientSettings()
        self.url = (url or settings.url).rstrip("/")
        self.settings = settings
        self.http = http_client or httpx.Client(
            base_url=self.url,
            timeout=timeout_s or settings.timeout_s,
            transport=http_transport,
        )
        secret = token or settings.token or credentials.load(settings.home, self.url)
        self.token = secret or None  # also sent with predictions (the data plane checks it)
        if secret:
            self.http.headers["Authorization"] = f"Bearer {secret}"

    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, Any] | None = None, files: Any = None,
                data: Mapping[str, str] | None = None) -> Any:
        """The decoded body of the answer (None for 204); an error answer raised as the
        contract's exception for its code."""
        try:
            resp = self.http.request(method, path, json=json, params=params, files=files,
                                     data=data)
        except httpx.TransportError as e:
            raise PlatformUnavailable(
                f"no Ferry control plane answers at {self.url} ({type(e).__name__}). "
                "Start the local platform with `ferry up`, or set FERRY_URL."
            ) from e
        if resp.status_code == 204:
            return None
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        if resp.status_code >= 400:
            raise error_from_body(body, status=resp.status_code)
        return body

    def close(self) -> None:
        self.http.close()

    # -- jobs: every long operation is one, followed the same way ----------------------
    def job(self, job_id: str) -> JobPublic:
        return JobPublic.model_validate(self.request("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job: JobPublic | str, *, on_progress: Progress | None = None,
             timeout_s: float | None = None, poll_s: float = 0.3) -> JobPublic:
        """Follow a job until it ends. Returns it if it succeeded; raises its error (the
        same typed exception the API would) if it failed."""
        job_id = job if isinstance(job, str) else job.id
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen: tuple[str, int] | None = None
        while True:
            current = self.job(job_id)
            if on_progress and (current.step, current.percent) != seen and current.step:
                seen = (current.step, current.percent)
                on_progress(current.step, current.percent)
            if current.state is JobState.failed:
                error = current.error or {}
                raise error_from_body({"error": error}, status=int(error.get("status", 500)))
            if current.state is JobState.succeeded:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise PlatformUnavailable(
                    f"job {job_id} is still {current.state.value} after {timeout_s:g}s "
                    f"(at '{current.step}'); follow it with `ferry jobs show {job_id}`.")
            time.sleep(poll_s)

    def run_job(self, method: str, path: str, body: Any = None, *,
                on_progress: Progress | None = None, timeout_s: float | None = None) -> JobPublic:
        """Start the job a request answers with, and follow it until it ends (:meth:`wait`)."""
        job = JobPublic.model_validate(self.request(method, path, json=body))
        return self.wait(job, on_progress=on_progress, timeout_s=timeout_s)


def validation_message(error: ValidationError) -> str:
    """Every rule a value broke, on one line: ``field: message; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
                     for e in error.errors())
