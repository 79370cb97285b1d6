from __future__ import annotations

import pytest
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ferry._frameworks import detect_framework
from ferry_contract import InvalidRequest


def test_detects_sklearn_estimators_and_pipelines() -> None:
    assert detect_framework(LogisticRegression()).name == "sklearn"
    assert detect_framework(make_pipeline(StandardScaler(), LogisticRegression())).name == "sklearn"


def test_lightgbm_wins_over_its_sklearn_base_classes() -> None:
    fw = detect_framework(LGBMClassifier())
    assert fw.name == "lightgbm"
    assert any(p.startswith("lightgbm==") for p in fw.pinned_requirements())


def test_unknown_objects_are_refused_with_the_supported_list() -> None:
    with pytest.raises(InvalidRequest, match="scikit-learn"):
        detect_framework(object())
