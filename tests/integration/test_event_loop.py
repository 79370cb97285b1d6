"""A slow database never stalls the control plane's event loop: routes run on the thread
pool and the token lookup leaves the loop, so while one request waits on the database,
others (the health check, other callers) are answered at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from _control_plane import Env


def _slow(env: Env, seconds: float) -> None:
    """Every database read of deployments takes ``seconds`` (a stuck query)."""
    store = env.platform.store
    real = store.list_deployments

    def slow(*a: Any, **kw: Any) -> Any:
        time.sleep(seconds)
        return real(*a, **kw)

    store.list_deployments = slow  # type: ignore[method-assign]


def test_a_slow_query_does_not_hold_up_other_requests(tmp_path: Path) -> None:
    env = Env(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    _slow(env, 2.0)
    token = env.tokens["viewer-a"]

    async def main() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=env.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ferry.test",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            t0 = time.monotonic()
            stuck = asyncio.create_task(http.get("/v1/deployments"))
            await asyncio.sleep(0.2)  # the slow request is in its query now
            health = await http.get("/v1/health")
            other = await http.get("/v1/models")
            answered = time.monotonic() - t0  # from the start: a blocked loop counts too
            assert health.status_code == 200 and other.status_code == 200, other.text
            assert (await stuck).status_code == 200
            return answered, time.monotonic() - t0

    others, stuck = asyncio.run(main())
    assert stuck >= 2.0  # the slow one did wait on its query
    assert others < 1.2, others  # the others did not wait with it
    env.platform.jobs.shutdown()
