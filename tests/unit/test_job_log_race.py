"""Log lines written to one job from many threads at once (a job's own steps beside a
progress watcher, or two processes) all land, each with its own sequence number: the
``(job_id, seq)`` unique index must never turn a race into a failed job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import postgres_available, postgres_database

from ferry_platform.store import Database, SqlJobStore


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        d = Database(f"sqlite:///{tmp_path}/state.db")
        d.upgrade()
        yield d
        return
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    with postgres_database() as url:
        d = Database(url.replace("postgresql://", "postgresql+psycopg://"))
        d.upgrade()
        yield d
        d.engine.dispose()


def test_lines_logged_at_once_from_many_threads_all_land_in_order_of_their_seq(
        db: Database) -> None:
    jobs = SqlJobStore(db)
    job = jobs.create("deploy", "churn", "ferry", None, {}, owner="me")
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            try:
                if i % 2:
                    jobs.log(job.id, f"t{t} line {i}", owner="me")
                else:
                    jobs.progress(job.id, f"t{t} step {i}", i, owner="me")
            except BaseException as e:  # noqa: BLE001 - the assertion below names it
                errors.append(e)

    pool = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    lines = jobs.logs(job.id, limit=10_000)
    assert [seq for seq, _, _ in lines] == list(range(1, threads * per_thread + 1))
    assert {line for _, _, line in lines} == {
        f"t{t} {'line' if i % 2 else 'step'} {i}" for t in range(threads) for i in range(per_thread)}
