"""Which ML framework a model object comes from, and how MLflow logs it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ferry_contract import InvalidRequest


@dataclass(frozen=True)
class Framework:
    name: str  # ferry's name, recorded on the model version
    flavor: str  # mlflow flavor module
    packages: tuple[str, ...]  # distributions the model needs at serving time

    def pinned_requirements(self) -> list[str]:
        pins = []
        for pkg in self.packages:
            try:
                pins.append(f"{pkg}=={version(pkg)}")
            except PackageNotFoundError:
                pins.append(pkg)
        return pins


SKLEARN = Framework("sklearn", "sklearn", ("scikit-learn", "numpy", "pandas", "scipy", "cloudpickle"))
LIGHTGBM = Framework("lightgbm", "lightgbm", ("lightgbm", "scikit-learn", "numpy", "pandas", "scipy"))
XGBOOST = Framework("xgboost", "xgboost", ("xgboost", "scikit-learn", "numpy", "pandas", "scipy"))
SUPPORTED = (SKLEARN, LIGHTGBM, XGBOOST)


def detect_framework(model: Any) -> Framework:
    """Tell the framework from the model's class (its MRO, so subclasses work too)."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root == "lightgbm":
            return LIGHTGBM
        if root == "xgboost":
            return XGBOOST
    for cls in type(model).__mro__:
        if cls.__module__.split(".", 1)[0] == "sklearn":
            return SKLEARN
    raise InvalidRequest(
        f"cannot tell the framework of {type(model).__module__}.{type(model).__name__}; "
        "Ferry registers scikit-learn estimators and pipelines, LightGBM and XGBoost models."
    )
