"""What each batch scorer actor reserves (all of them, and a read and a write task, fit in
the CPUs left free beside Serve: a scorer that cannot be placed never scores) and the
blocks a source is read in (one per batch)."""

from __future__ import annotations

import pytest

from ferry_platform.serving import BatchSpec, SourceInfo
from ferry_platform.serving._batch import fit_actor_cpus, read_blocks


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


@pytest.mark.parametrize(("rows", "files", "batch", "expected"), [
    (1_000_000, 8, 50_000, 20),  # one block per batch
    (10_000, 3, 50_000, 3),      # never fewer blocks than files
    (120_001, 1, 50_000, 3),     # a last, partial batch is a block too
    (None, 2, 50_000, None),     # CSV: no row count, Ray Data chooses
])
def test_the_source_is_read_in_one_block_per_batch(rows: int | None, files: int, batch: int,
                                                   expected: int | None) -> None:
    source = SourceInfo([f"f{i}.parquet" for i in range(files)], "parquet", [], {}, rows,
                        "sha256:0")
    spec = BatchSpec(release={}, source=source, dest="/out", as_of=None, batch_size=batch)
    assert read_blocks(spec) == expected
