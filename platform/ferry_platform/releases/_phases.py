"""The phases of a long change, each timed into the job's log and its phase list: where a
deploy's time goes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from ferry_contract import FerryError

Progress = Callable[[str, int], None]
"""``progress(message, percent)``: a step of a long operation."""

PhaseSink = Callable[[list[dict[str, Any]]], None]
"""Receives every phase so far, in order (``name``, ``state``: running / succeeded / failed,
``started``: ISO time, ``seconds``: None while running), each time one starts or ends."""


class Phases:
    """``with phases("preflight", "loading ... in isolation", 40): ...`` says the message
    (at ``percent``), times the block, and says ``preflight: 8.2 s`` when it ends (``...
    failed after 3.1 s`` when it raises, and a :class:`FerryError` then names the phase in
    its details); :meth:`done` says every phase's time and the total in one line. Usable as
    the serving runtime's ``phase`` (name only). ``sink`` gets the structured list."""

    def __init__(self, say: Progress, sink: PhaseSink | None = None) -> None:
        self._say = say
        self._sink = sink
        self._percent = 0
        self._started = time.perf_counter()
        self.times: list[tuple[str, float]] = []
        self.records: list[dict[str, Any]] = []

    def _publish(self) -> None:
        if self._sink is not None:
            self._sink([dict(r) for r in self.records])

    @contextmanager
    def __call__(self, name: str, message: str | None = None,
                 percent: int | None = None) -> Iterator[None]:
        if percent is not None:
            self._percent = percent
        if message is not None:
            self._say(message, self._percent)
        record: dict[str, Any] = {"name": name, "state": "running",
                                  "started": datetime.now(UTC).isoformat(), "seconds": None}
        self.records.append(record)
        self._publish()
        t0 = time.perf_counter()
        try:
            yield
        except BaseException as e:
            took = time.perf_counter() - t0
            record.update(state="failed", seconds=round(took, 3))
            if isinstance(e, FerryError):
                e.details.setdefault("phase", name)
            self._publish()
            self._say(f"{name} failed after {took:.1f} s", self._percent)
            raise
        took = time.perf_counter() - t0
        record.update(state="succeeded", seconds=round(took, 3))
        self.times.append((name, took))
        self._publish()
        self._say(f"{name}: {took:.1f} s", self._percent)

    def note(self, message: str) -> None:
        """A line of its own, at the current percentage (e.g. a phase that was skipped)."""
        self._say(message, self._percent)

    def done(self, message: str) -> None:
        """Say ``message`` at 100% with the time of each phase and the total."""
        spent = ", ".join(f"{name} {took:.1f} s" for name, took in self.times)
        total = time.perf_counter() - self._started
        self._say(f"{message} (took {total:.1f} s: {spent})" if spent else message, 100)
