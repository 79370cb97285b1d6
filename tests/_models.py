"""Trained models on the synthetic data, shared by integration and e2e tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd
from _synth import churn
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FEATURES = ["tenure", "monthly", "income", "tickets", "plan"]


@cache
def training_frame(seed: int = 11) -> pd.DataFrame:
    return churn(3000, seed=seed)


def sklearn_pipeline(seed: int = 11, c: float = 1.0) -> Any:
    train = training_frame(seed)
    pre = ColumnTransformer([("num", StandardScaler(), ["tenure", "monthly", "income", "tickets"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    model = make_pipeline(pre, LogisticRegression(C=c, max_iter=2000))
    return model.fit(train[FEATURES], train["churned"])


def lightgbm_model(seed: int = 11) -> Any:
    train = training_frame(seed)
    X = train[["tenure", "monthly", "income", "tickets"]]
    return LGBMClassifier(n_estimators=40, verbose=-1, random_state=0).fit(X, train["churned"])
