from __future__ import annotations

from pathlib import Path

import pytest

from ferry._config import ClientSettings
from ferry_platform import ServeMode, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'ferry.db'}"
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s.bentoml_home == str(tmp_path / "bentoml")
    assert s.serve_mode is ServeMode.throughput


def test_argument_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_DEFAULT_REPLICAS", "3")
    assert Settings(home=tmp_path).default_replicas == 3
    assert Settings(home=tmp_path, default_replicas=5).default_replicas == 5


def test_every_variable_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    names = [f"FERRY_{n.upper()}" for n in Settings.model_fields]
    names += [f"FERRY_{n.upper()}" for n in ClientSettings.model_fields]
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"document these in docs/configuration.md: {missing}"


def test_models_are_evaluated_on_ray_unless_a_local_platform_says_otherwise(tmp_path: Path) -> None:
    from ferry_platform import SandboxKind
    from ferry_platform._platform import sandbox_for
    from ferry_platform.sandbox import ProcessSandbox, RaySandbox

    assert Settings(home=tmp_path).evaluation_sandbox is SandboxKind.ray
    assert isinstance(sandbox_for(Settings(home=tmp_path)), RaySandbox)
    local = Settings(home=tmp_path, evaluation_sandbox="process")
    assert isinstance(sandbox_for(local), ProcessSandbox)
    with pytest.raises(ValueError, match="FERRY_EVALUATION_SANDBOX=process .* use ray"):
        Settings(home=tmp_path, evaluation_sandbox="process", ray_address="ray://head:10001")
