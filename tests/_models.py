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


def register_hooked(client: Any, name: str, hook: str, workdir: Any, rows: Any) -> Any:
    """Register, through the API as any deployer would, a scikit-learn model whose pickle
    runs ``hook`` (Python source) when it is loaded — what a hostile model can do. It is a
    LogisticRegression on ``rows`` (x -> y), saved with cloudpickle (MLflow's other sklearn
    format); its class is defined here, so cloudpickle stores it by value. Nothing of the
    hook runs here."""
    from pathlib import Path

    import mlflow.sklearn
    from mlflow.models import infer_signature

    from ferry._registration import pack, save_model
    from ferry_contract import LoggedModelPublic, ModelVersionCreate, ModelVersionPublic

    class Hooked(LogisticRegression):
        def __setstate__(self, state: dict[str, Any]) -> None:
            exec(state.pop("_ferry_hook"), {})
            super().__setstate__(state)

        def __getstate__(self) -> dict[str, Any]:
            return {**super().__getstate__(), "_ferry_hook": hook}

    X, y = rows[["x"]], rows["y"]
    model = Hooked().fit(X, y)
    work = Path(workdir)
    lineage = save_model(LogisticRegression().fit(X, y), work / f"{name}-plain", name=name,
                         training_data=rows[["x", "y"]], target="y", params=None,
                         metrics=None, code="test")
    mlflow.sklearn.save_model(model, str(work / name), serialization_format="cloudpickle",
                              signature=infer_signature(X, model.predict(X)),
                              pip_requirements=["scikit-learn"])
    client._request("PUT", f"/v1/models/{name}", json={"description": "", "team": None})
    archive = pack(work / name, work / f"{name}.tar.gz")
    logged = LoggedModelPublic.model_validate(client._request(
        "POST", f"/v1/models/{name}/logged-models",
        files={"archive": ("model.tar.gz", archive.read_bytes(), "application/gzip")},
        data={"lineage": lineage.model_dump_json(by_alias=True)}))
    create = ModelVersionCreate(model_uri=logged.model_uri, run_id=logged.run_id)
    return ModelVersionPublic.model_validate(client._request(
        "POST", f"/v1/models/{name}/versions", json=create.model_dump(exclude_none=True)))
