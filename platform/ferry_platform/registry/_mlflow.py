"""The MLflow-backed registry.

Ferry keeps one MLflow experiment per model name (``ferry/<name>``) with its artifacts
under the configured artifact root, and one registered model per name. The control plane
is MLflow's only writer: clients upload a saved model and its lineage
(:meth:`MlflowRegistry.log_model`), the control plane writes the run (params, metrics,
training dataset, lineage tags) and the logged model, and a registration accepts only such
a logged model of the model's own experiment. Lineage lives on the model version as
``ferry.*`` tags read from that run, and the digest of the weights is the platform's own
reading of the stored artifacts. No model is ever loaded here.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ferry_contract import (
    LOGGED_MODEL_URI_PATTERN,
    ColumnSpec,
    InvalidRequest,
    LoggedModelCreate,
    LoggedModelPublic,
    ModelNotFound,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    PlatformUnavailable,
    ReferenceSample,
    VersionNotFound,
)
from ferry_platform.core import REDACTOR, directory_digest
from ferry_platform.registry._archive import check_mlmodel, read_mlmodel, write_mlmodel

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

TAG_PREFIX = "ferry."
EXPERIMENT_PREFIX = "ferry/"
REFERENCE_ARTIFACT = "ferry/reference.json"
"""The training sample a version is monitored against, in its registration run."""


def _join(root: str, *parts: str) -> str:
    if "://" in root:
        return "/".join([root.rstrip("/"), *parts])
    return str(Path(root).joinpath(*parts))


def _under(location: str, root: str) -> bool:
    """Whether the storage URI ``location`` lies inside ``root`` (a path or a URI)."""
    def split(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path (or C:)
            path = unquote(parsed.path) if parsed.scheme == "file" else uri
            return "file", str(Path(path).resolve())
        return parsed.scheme + "://" + parsed.netloc, parsed.path

    (loc_scheme, loc_path), (root_scheme, root_path) = split(location), split(root)
    if loc_scheme != root_scheme or ".." in loc_path.split("/"):
        return False
    return loc_path.rstrip("/").startswith(root_path.rstrip("/") + "/")


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

    def __init__(self, tracking_uri: str, artifact_root: str):
        self._tracking_uri = tracking_uri
        self._artifact_root = artifact_root
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
                        "the model registry (MLflow, FERRY_MLFLOW_TRACKING_URI) is not "
                        f"reachable ({type(e).__name__}: {REDACTOR(str(e))[:300]}); retry "
                        "later, or ask the platform's operator to check that setting."
                    ) from e
            return self._client_obj

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

    # -- logging (the upload) ----------------------------------------------------------
    def log_model(self, name: str, model_dir: Path, lineage: LoggedModelCreate,
                  actor: str = "") -> LoggedModelPublic:
        """Write an uploaded, unpacked model into ``name``'s experiment: a run with the
        lineage, and a logged model holding ``model_dir``'s files (``MLmodel`` rewritten
        with the ids MLflow assigned). ``model_dir`` is checked, never loaded."""
        from mlflow.entities import (
            Dataset,
            DatasetInput,
            InputTag,
            LoggedModelOutput,
            LoggedModelStatus,
            Metric,
            Param,
        )

        mlmodel = read_mlmodel(model_dir)
        check_mlmodel(mlmodel, lineage.framework)
        columns = self._columns_of(mlmodel)
        refs = json.dumps(lineage.feature_refs)
        if len(refs) > 5000:
            raise InvalidRequest(f"the feature refs of {name!r} take {len(refs):,} characters "
                                 "as JSON; at most 5,000 fit the registry's tags")
        self._registered(name)
        experiment_id = self._experiment_id(name)
        client = self._client
        tags = {
            TAG_PREFIX + "model": name,
            TAG_PREFIX + "framework": lineage.framework,
            TAG_PREFIX + "code_version": lineage.code_version,
            TAG_PREFIX + "training_data_digest": lineage.dataset.digest,
            TAG_PREFIX + "feature_refs": refs,
            TAG_PREFIX + "signature": json.dumps([c.model_dump() for c in columns]),
            TAG_PREFIX + "uploaded_by": actor,
        }
        if lineage.code_version.startswith("git:"):
            tags["mlflow.source.git.commit"] = \
                lineage.code_version.removeprefix("git:").removesuffix("+dirty")[:100]
        run = client.create_run(experiment_id, run_name=f"{name}-register", tags=tags)
        run_id = run.info.run_id
        model_id = None
        try:
            logged = client.create_logged_model(
                experiment_id, name="model", source_run_id=run_id,
                params=dict(lineage.params), tags={TAG_PREFIX + "model": name})
            model_id = logged.model_id
            now = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0, model_id=model_id)
                         for k, v in lineage.metrics.items()],
                params=[Param(k, v) for k, v in lineage.params.items()])
            d = lineage.dataset
            client.log_inputs(run_id, [DatasetInput(
                Dataset(name=d.name, digest=d.digest, source_type=d.source_type,
                        source=d.source, schema=d.schema_, profile=d.profile),
                [InputTag("mlflow.data.context", "training")])])
            client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
            if lineage.reference is not None:
                client.log_text(run_id, lineage.reference.model_dump_json(),
                                REFERENCE_ARTIFACT)
            mlmodel.update(model_id=model_id, model_uuid=model_id, run_id=run_id,
                           artifact_path=logged.artifact_location,
                           utc_time_created=str(datetime.now(UTC).replace(tzinfo=None)))
            write_mlmodel(model_dir, mlmodel)
            client.log_model_artifacts(model_id, str(model_dir))
            client.finalize_logged_model(model_id, LoggedModelStatus.READY)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            if model_id is not None:
                client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            client.set_terminated(run_id, "FAILED")
            raise
        return LoggedModelPublic(model_uri=f"models:/{model_id}", run_id=run_id)

    @staticmethod
    def _columns_of(mlmodel: dict[str, Any]) -> list[ColumnSpec]:
        from mlflow.models.signature import ModelSignature

        try:
            signature = ModelSignature.from_dict(mlmodel["signature"])
        except Exception as e:  # any malformed schema is the same refusal
            raise InvalidRequest(
                f"the model's signature cannot be read ({type(e).__name__}); register it "
                "with training data as a pandas DataFrame, as register() does.") from e
        return signature_columns(signature)

    # -- versions ---------------------------------------------------------------------
    def _logged_model(self, name: str, create: ModelVersionCreate) -> Any:
        """The logged model ``create`` names, if it is one of ``name``'s own: logged in
        experiment ``ferry/<name>`` by the control plane, with its files under the
        artifact root (and ``run_id``, if given, its run). Anything else — a path, another
        scheme, another model's logged model, an unknown id — is refused with one message,
        whether or not the thing exists."""
        from mlflow.entities import LoggedModelStatus
        from mlflow.exceptions import MlflowException

        uri, run_id = create.model_uri, create.run_id
        refused = InvalidRequest(
            f"model_uri {uri!r}" + (f" with run_id {run_id!r}" if run_id is not None else "")
            + f" is not a model logged for {name!r}: only the models:/m-<id> URI that "
            f"POST /v1/models/{name}/logged-models returned is accepted (with its run_id, "
            "if any). ferry.Client().register() uploads and registers in one call.",
            details={"model_uri": uri, "run_id": run_id})
        if not re.fullmatch(LOGGED_MODEL_URI_PATTERN, uri):
            raise refused
        client = self._client
        experiment = client.get_experiment_by_name(EXPERIMENT_PREFIX + name)
        try:
            logged = client.get_logged_model(uri.removeprefix("models:/"))
        except MlflowException as e:
            if "RESOURCE_DOES_NOT_EXIST" in str(e.error_code) or "not found" in str(e).lower():
                raise refused from None
            raise
        if experiment is None or str(logged.experiment_id) != str(experiment.experiment_id) \
                or logged.status != LoggedModelStatus.READY \
                or not _under(str(logged.artifact_location), _join(self._artifact_root, name)) \
                or (run_id is not None and run_id != logged.source_run_id) \
                or not logged.source_run_id \
                or logged.tags.get(TAG_PREFIX + "model") != name:
            raise refused
        return logged

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        import mlflow
        from mlflow.exceptions import MlflowException

        self._registered(name)
        logged = self._logged_model(name, create)
        client = self._client
        run = client.get_run(logged.source_run_id)
        lineage = run.data.tags
        if lineage.get(TAG_PREFIX + "model") != name:
            raise InvalidRequest(f"the run of {create.model_uri!r} was not written for "
                                 f"{name!r} by the control plane")
        location = str(logged.artifact_location)
        with tempfile.TemporaryDirectory(prefix="ferry-digest-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp)
            except (MlflowException, OSError) as e:
                raise PlatformUnavailable(
                    f"the files of {create.model_uri!r} cannot be read from the artifact "
                    f"store ({type(e).__name__}); retry later.") from e
            digest = directory_digest(local)
            columns = self._columns_of(read_mlmodel(Path(local)))
        tags = {
            TAG_PREFIX + "model_uri": create.model_uri,
            TAG_PREFIX + "framework": lineage.get(TAG_PREFIX + "framework", "unknown"),
            TAG_PREFIX + "model_digest": digest,
            TAG_PREFIX + "training_data_digest": lineage.get(TAG_PREFIX + "training_data_digest", ""),
            TAG_PREFIX + "code_version": lineage.get(TAG_PREFIX + "code_version", ""),
            TAG_PREFIX + "signature": json.dumps([c.model_dump() for c in columns]),
            TAG_PREFIX + "feature_refs": lineage.get(TAG_PREFIX + "feature_refs", "[]"),
        }
        try:
            mv = client.create_model_version(name=name, source=location,
                                             run_id=logged.source_run_id, tags=tags,
                                             model_id=logged.model_id)
        except MlflowException as e:
            raise InvalidRequest(f"MLflow refused the version of {name!r}: {e.message}") from e
        return self._to_version(client.get_model_version(name, mv.version)).model_copy(
            update={"params": dict(run.data.params),
                    "metrics": {k: float(v) for k, v in run.data.metrics.items()}})

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
        return self._with_run(self._to_version(mv))

    def _with_run(self, version: ModelVersionPublic) -> ModelVersionPublic:
        """``version`` with the params and metrics of its run (one more MLflow read)."""
        from mlflow.exceptions import MlflowException

        if not version.run_id:
            return version
        try:
            run = self._client.get_run(version.run_id)
        except MlflowException:
            return version
        return version.model_copy(update={
            "params": dict(run.data.params),
            "metrics": {k: float(v) for k, v in run.data.metrics.items()}})

    def list_versions(self, name: str) -> list[ModelVersionPublic]:
        self._registered(name)
        found = self._client.search_model_versions(f"name='{name}'")
        return sorted((self._to_version(v) for v in found), key=lambda v: v.version)

    def training_reference(self, name: str, version: int) -> ReferenceSample | None:
        import mlflow
        from mlflow.exceptions import MlflowException

        mv = self.get_version(name, version)
        if not mv.run_id:
            return None
        with tempfile.TemporaryDirectory(prefix="ferry-reference-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=mv.run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp,
                    tracking_uri=self._tracking_uri)
            except (MlflowException, OSError):  # registered without one
                return None
            return ReferenceSample.model_validate_json(Path(local).read_text())

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        import mlflow

        mv = self.get_version(name, version)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.artifact_uri,
                                                        dst_path=str(dst)))

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version(name, str(version))
        except MlflowException as e:
            raise VersionNotFound(f"model {name!r} has no version {version}") from e
        return dict(mv.tags or {})

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str | None]) -> None:
        from mlflow.exceptions import MlflowException

        client = self._client
        for key, value in tags.items():
            try:
                if value is None:
                    client.delete_model_version_tag(name, str(version), key)
                else:
                    client.set_model_version_tag(name, str(version), key, value)
            except MlflowException as e:
                if value is None and "RESOURCE_DOES_NOT_EXIST" in str(e.error_code):
                    continue  # deleting a tag that is not there
                raise
