"""Synthetic datasets from hidden generators whose truth the tests control."""

from __future__ import annotations

import numpy as np
import pandas as pd


def churn(n: int, seed: int, *, positive_rate_shift: float = 0.0) -> pd.DataFrame:
    """Customers whose churn follows a known logistic rule; un-normalised feature scales."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    monthly = rng.gamma(4.0, 20.0, n).round(2)           # ~80, spread to the hundreds
    income = rng.lognormal(10.5, 0.6, n).round(0)        # tens of thousands
    tickets = rng.poisson(1.0, n)
    logit = -1.0 - 0.05 * tenure + 0.02 * monthly + 0.6 * tickets + positive_rate_shift
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"tenure": tenure, "monthly": monthly, "income": income,
                         "tickets": tickets, "plan": rng.choice(["basic", "pro"], n),
                         "churned": y.astype(int)})


def numeric_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["tenure", "monthly", "income", "tickets"]]


def unbalanced(n: int, seed: int, positive: float = 0.02) -> pd.DataFrame:
    """A heavily unbalanced binary problem (about ``positive`` positives)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1000, n)  # wildly different scale
    score = x1 + x2 / 1000
    y = score > np.quantile(score, 1 - positive)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": y.astype(int)})


def signal(n: int, seed: int, noise: float = 0.5) -> pd.DataFrame:
    """One feature ``x`` and a label that follows its sign, blurred by ``noise``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"x": x, "y": (x + rng.normal(0.0, noise, n) > 0).astype(int)})


def churn_drifted(n: int, seed: int, income_scale: float = 2.5) -> pd.DataFrame:
    """The churn generator after a shift: incomes scaled by ``income_scale`` (the drift
    monitoring sees) and churn now rising with income (the concept a model trained before
    the shift misses)."""
    frame = churn(n, seed)
    rng = np.random.default_rng(seed + 10_000)
    frame["income"] = (frame["income"] * income_scale).round(0)
    z = (np.log(frame["income"]) - np.log(frame["income"]).mean()) / np.log(frame["income"]).std()
    logit = -1.0 - 0.05 * frame["tenure"] + 0.02 * frame["monthly"] + 0.6 * frame["tickets"] \
        + 2.0 * z
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame
