"""The MLflow-backed registry.

Ferry keeps one MLflow experiment per model name (``ferry/<name>``) with its artifacts
under the configured artifact root, and one registered model per name. Lineage lives on
the model version as ``ferry.*`` tags, set by the control plane (not by the client), so the
digest of the weights is always the platform's own reading of the stored artifacts.
"""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferry_contract import (
    ColumnSpec,
    InvalidRequest,
    ModelNotFound,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    PlatformUnavailable,
    VersionNotFound,
)
from ferry_platform.core import directory_digest

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

TAG_PREFIX = "ferry."
EXPERIMENT_PREFIX = "ferry/"


def _join(root: str, *parts: str) -> str:
    if "://" in root:
        return "/".join([root.rstrip("/"), *parts])
    return str(Path(root).joinpath(*parts))


def signature_columns(signature: Any) -> list[ColumnSpec]:
    """Columns of an MLflow ``ModelSignature``'s input schema."""
    if signature is None or signature.inputs is None:
        return []
    cols: list[ColumnSpec] = []
    for spec in signature.inputs.inputs:
        if spec.name is None:
            raise InvalidRequest(
                "the model's signature has unnamed inputs; Ferry needs named columns. "
                "Register the model with training data as a pandas DataFrame."
            )
        type_name = getattr(spec.type, "name", str(spec.type))
        cols.append(ColumnSpec(name=spec.name, type=str(type_name), required=spec.required))
    return cols


class MlflowRegistry:
    """:class:`ModelRegistry` on an MLflow tracking server / database."""

    def __init__(self, tracking_uri: str, artifact_root: str, client_uri: str | None = None):
        self._tracking_uri = tracking_uri
        self._artifact_root = artifact_root
        self._client_uri = client_uri or tracking_uri
        self._client_obj: MlflowClient | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------
    @property
    def _client(self) -> MlflowClient:
        with self._lock:
            if self._client_obj is None:
                from mlflow import MlflowClient

                try:
                    self._client_obj = MlflowClient(
                        tracking_uri=self._tracking_uri, registry_uri=self._tracking_uri
                    )
                    self._client_obj.search_experiments(max_results=1)
                except Exception as e:
                    self._client_obj = None
                    raise PlatformUnavailable(
                        f"MLflow at {self._tracking_uri!r} is not reachable: {e}. "
                        "Check FERRY_MLFLOW_TRACKING_URI."
                    ) from e
            return self._client_obj

    def client_tracking_uri(self) -> str:
        return self._client_uri

    def _registered(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_registered_model(name)
        except MlflowException as e:
            if "RESOURCE_DOES_NOT_EXIST" in str(e.error_code) or "not found" in str(e).lower():
                raise ModelNotFound(
                    f"model {name!r} is not registered. Register it first with "
                    f"ferry.Client().register(model, name={name!r}, training_data=df)."
                ) from e
            raise

    def _experiment_id(self, name: str) -> str:
        client = self._client
        exp_name = EXPERIMENT_PREFIX + name
        exp = client.get_experiment_by_name(exp_name)
        if exp is not None:
            return str(exp.experiment_id)
        from mlflow.exceptions import MlflowException

        try:
            return str(
                client.create_experiment(
                    exp_name, artifact_location=_join(self._artifact_root, name)
                )
            )
        except MlflowException:  # created concurrently
            exp = client.get_experiment_by_name(exp_name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _to_model(self, rm: Any) -> ModelPublic:
        versions = [int(v.version) for v in rm.latest_versions or []]
        if not versions:
            found = self._client.search_model_versions(f"name='{rm.name}'")
            versions = [int(v.version) for v in found]
        exp = self._client.get_experiment_by_name(EXPERIMENT_PREFIX + rm.name)  # read only
        return ModelPublic(
            name=rm.name,
            description=rm.description or "",
            experiment_id=str(exp.experiment_id) if exp is not None else "",
            latest_version=max(versions) if versions else None,
            aliases={k: int(v) for k, v in (rm.aliases or {}).items()},
        )

    def _to_version(self, mv: ModelVersion) -> ModelVersionPublic:
        tags = mv.tags or {}
        try:
            signature = [ColumnSpec(**c) for c in json.loads(tags.get(TAG_PREFIX + "signature", "[]"))]
        except (ValueError, TypeError):
            signature = []
        created = (
            datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC)
            if mv.creation_timestamp
            else None
        )
        return ModelVersionPublic(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id or "",
            model_uri=tags.get(TAG_PREFIX + "model_uri", mv.source or ""),
            artifact_uri=self._download_uri(mv),
            framework=tags.get(TAG_PREFIX + "framework", "unknown"),
            model_digest=tags.get(TAG_PREFIX + "model_digest", ""),
            training_data_digest=tags.get(TAG_PREFIX + "training_data_digest", ""),
            code_version=tags.get(TAG_PREFIX + "code_version", ""),
            signature=signature,
            feature_refs=json.loads(tags.get(TAG_PREFIX + "feature_refs", "[]")),
            created_at=created,
        )

    def _download_uri(self, mv: ModelVersion) -> str:
        """Ferry registers versions with their concrete storage location as ``source``; only
        versions registered otherwise need MLflow to resolve it (one more query)."""
        if mv.source and not mv.source.startswith("models:/"):
            return str(mv.source)
        return str(self._client.get_model_version_download_uri(mv.name, mv.version))

    # -- models -----------------------------------------------------------------------
    def ensure_model(self, name: str, description: str = "") -> ModelPublic:
        from mlflow.exceptions import MlflowException

        self._experiment_id(name)
        try:
            rm = self._client.get_registered_model(name)
        except MlflowException:
            try:
                rm = self._client.create_registered_model(name, description=description or None)
            except MlflowException:
                rm = self._client.get_registered_model(name)
        return self._to_model(rm)

    def get_model(self, name: str) -> ModelPublic:
        return self._to_model(self._registered(name))

    def list_models(self) -> list[ModelPublic]:
        return [self._to_model(rm) for rm in self._client.search_registered_models()]

    # -- versions ---------------------------------------------------------------------
    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        import mlflow
        from mlflow.exceptions import MlflowException

        self._registered(name)
        client = self._client
        with tempfile.TemporaryDirectory(prefix="ferry-digest-") as tmp:
            try:
                location = self._artifact_location(create.model_uri)
                local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp)
            except (MlflowException, OSError) as e:
                raise InvalidRequest(
                    f"model_uri {create.model_uri!r} cannot be read from MLflow: {e}. "
                    "Pass the models:/<model_id> URI that log_model returned."
                ) from e
            digest = directory_digest(local)
            from mlflow.models import Model

            try:
                signature = Model.load(local).signature
            except (MlflowException, OSError) as e:
                raise InvalidRequest(
                    f"{create.model_uri!r} is not an MLflow model (no MLmodel file): {e}"
                ) from e
        if signature is None:
            raise InvalidRequest(
                f"model {create.model_uri!r} has no signature. Log it with a signature "
                "(ferry's register() infers one from training_data)."
            )
        columns = signature_columns(signature)
        model_id = create.model_uri.removeprefix("models:/")
        tags = {
            TAG_PREFIX + "model_uri": create.model_uri,
            TAG_PREFIX + "framework": create.framework,
            TAG_PREFIX + "model_digest": digest,
            TAG_PREFIX + "training_data_digest": create.training_data_digest,
            TAG_PREFIX + "code_version": create.code_version,
            TAG_PREFIX + "signature": json.dumps([c.model_dump() for c in columns]),
            TAG_PREFIX + "feature_refs": json.dumps(create.feature_refs),
        }
        try:
            mv = client.create_model_version(
                name=name,
                source=location,
                run_id=create.run_id,
                tags=tags,
                model_id=model_id if create.model_uri.startswith("models:/") else None,
            )
        except MlflowException as e:
            raise InvalidRequest(f"MLflow refused the version of {name!r}: {e.message}") from e
        return self._to_version(client.get_model_version(name, mv.version))

    def _artifact_location(self, model_uri: str) -> str:
        """The concrete storage URI of a ``models:/<model_id>`` URI (no global MLflow state)."""
        if model_uri.startswith("models:/m-"):
            return str(self._client.get_logged_model(model_uri.removeprefix("models:/"))
                       .artifact_location)
        return model_uri

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        from mlflow.exceptions import MlflowException

        self._registered(name)
        try:
            mv = self._client.get_model_version(name, str(version))
        except MlflowException as e:
            known = sorted(v.version for v in self.list_versions(name))
            raise VersionNotFound(
                f"model {name!r} has no version {version}; "
                f"known versions: {known or 'none'}.",
                details={"model": name, "version": version, "known_versions": known},
            ) from e
        return self._to_version(mv)

    def list_versions(self, name: str) -> list[ModelVersionPublic]:
        self._registered(name)
        found = self._client.search_model_versions(f"name='{name}'")
        return sorted((self._to_version(v) for v in found), key=lambda v: v.version)

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        import mlflow

        mv = self.get_version(name, version)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.artifact_uri,
                                                        dst_path=str(dst)))
