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


def register_from_code(client: Any, name: str, code: str, workdir: Any,
                       inputs: pd.DataFrame) -> Any:
    """Register an MLflow pyfunc model whose code (a file ending in ``set_model(...)``) is
    stored with it, as a deployer would through the API: logged to the platform's MLflow,
    then registered by URI. Nothing of it is run here."""
    from pathlib import Path

    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from ferry_contract import ModelVersionCreate, ModelVersionPublic

    info = client.info()
    model = client._request("PUT", f"/v1/models/{name}", json={"description": "", "team": None})
    source = Path(workdir) / f"{name.replace('-', '_')}.py"
    source.write_text(code)
    signature = ModelSignature(inputs=Schema([ColSpec("double", c) for c in inputs.columns]),
                               outputs=Schema([ColSpec("long")]))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(info.mlflow_tracking_uri)
    try:
        with mlflow.start_run(experiment_id=model["experiment_id"]) as run:
            logged = mlflow.pyfunc.log_model(name="model", python_model=str(source),
                                             signature=signature, pip_requirements=[])
    finally:
        mlflow.set_tracking_uri(previous)
    create = ModelVersionCreate(model_uri=f"models:/{logged.model_id}", run_id=run.info.run_id,
                                framework="pyfunc", training_data_digest="synthetic",
                                code_version="test")
    return ModelVersionPublic.model_validate(client._request(
        "POST", f"/v1/models/{name}/versions", json=create.model_dump()))
