"""What each batch scorer actor reserves: all of them, and a read and a write task, fit in
the CPUs left free beside Serve (a scorer that cannot be placed never scores)."""

from __future__ import annotations

import pytest

from ferry_platform.serving._batch import fit_actor_cpus


@pytest.mark.parametrize(("wanted", "actors", "free", "expected"), [
    (0.5, 2, 2.0, 0.5),    # room for what was asked: unchanged
    (0.9, 2, 1.5, 0.5),    # beside a deployment (router + replica 0.25 each): lowered
    (0.9, 2, 1.45, 0.47),  # rounded down, never up
    (0.9, 3, 1.5, 0.33),
    (0.5, 2, 0.4, 0.01),   # nothing left: the smallest positive request, not zero or less
])
def test_scorers_fit_beside_what_already_holds_cpus(wanted: float, actors: int, free: float,
                                                    expected: float) -> None:
    got = fit_actor_cpus(wanted, actors, 0.25, free)
    assert got == pytest.approx(expected)
    if free > 0.5:
        assert actors * got + 2 * 0.25 <= free + 1e-9
