"""The demo's hidden generator: synthetic customers whose churn follows a known logistic rule.

A module of its own because two processes use it: the demo (``demo.py`` and its parts) and
each run of the nightly retraining pipeline (``nightly_retrain.py``), which the platform
imports in an isolated process with this directory on its ``sys.path``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_churn(n: int, seed: int) -> pd.DataFrame:
    """``n`` customers (tenure, monthly charges, support tickets, contract type) and whether
    each churned; the same ``seed`` gives the same rows."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    monthly = rng.gamma(4.0, 20.0, n).round(2)
    tickets = rng.poisson(1.0, n)
    contract = rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])
    logit = -1.0 - 0.05 * tenure + 0.02 * monthly + 0.6 * tickets - 0.9 * contract
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"tenure_months": tenure, "monthly_charges": monthly,
                         "support_tickets": tickets, "contract_type": contract,
                         "churned": churned.astype(int)})
