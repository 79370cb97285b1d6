"""The demo's pipeline (examples/nightly_retrain.py) as a team would register it: its
declaration, where the platform will import it from, its decision, and its first steps as
plain calls outside a run (no platform)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.fixture
def nightly(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import nightly_retrain

    return nightly_retrain


def test_it_is_nightly_and_listens_to_drift_on_churn(nightly) -> None:  # type: ignore[no-untyped-def]
    from ferry._resources.pipelines import locate

    p = nightly.nightly_retrain
    assert (p.name, p.schedule, p.on_alert) == ("churn-nightly", "0 3 * * *", ["churn:drift"])
    assert p.overlap.value == "skip"  # a burst of drift alerts: one retraining, not ten
    assert locate(p) == ("nightly_retrain:nightly_retrain", str(EXAMPLES))


def test_only_a_passed_gate_with_enough_gain_makes_a_canary(nightly) -> None:  # type: ignore[no-untyped-def]
    assert nightly.decide(True, 0.005, 0.005) == "canary"
    assert nightly.decide(True, 0.004, 0.005) == "no gain"
    assert nightly.decide(False, 0.5, 0.005) == "failed gate"


def test_its_steps_are_plain_calls_outside_a_run(nightly) -> None:  # type: ignore[no-untyped-def]
    frame = nightly.tonight_data(300, 21)
    assert len(frame) == 300 and frame.equals(nightly.tonight_data(300, 21))
    model = nightly.train(frame)
    assert list(model.feature_names_in_) == [c for c in frame.columns if c != "churned"]
