"""``client.registry``: registered models, their versions, and registering a new one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferry._features import TrainingSet
from ferry._transport import Progress, Transport
from ferry_contract import LoggedModelPublic, ModelPublic, ModelVersionCreate, ModelVersionPublic


class Registry:
    """The model registry: each model a name with numbered, immutable versions."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def register(
        self,
        model: Any,
        *,
        name: str,
        training_data: Any,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        code_version: str | None = None,
        team: str | None = None,
        on_progress: Progress | None = None,
    ) -> ModelVersionPublic:
        """Register a trained model as a new version of ``name``.

        Saves the model with its signature (inferred from ``training_data``'s feature
        columns), uploads it to the control plane with its params, metrics, the training
        dataset (digest, schema, profile) and the code version (git commit), which logs it
        in MLflow and registers it, recording its digest (:meth:`log_model`, then one more
        call). ``target`` names the label column of ``training_data``, if it has one. When
        ``training_data`` is a :class:`TrainingSet`, the version also records the exact
        feature versions it was trained on, and entity keys and timestamps are left out.
        A new model is owned by ``team`` (default: the one team you deploy for).
        ``on_progress(step, percent)`` follows the upload.
        """
        logged = self.log_model(model, name=name, training_data=training_data, target=target,
                                params=params, metrics=metrics, description=description,
                                code_version=code_version, team=team, on_progress=on_progress)
        body = ModelVersionCreate(model_uri=logged.model_uri, run_id=logged.run_id)
        return ModelVersionPublic.model_validate(
            self._transport.request("POST", f"/v1/models/{name}/versions", json=body.model_dump()))

    def log_model(
        self,
        model: Any,
        *,
        name: str,
        training_data: Any,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        code_version: str | None = None,
        team: str | None = None,
        on_progress: Progress | None = None,
    ) -> LoggedModelPublic:
        """The first half of :meth:`register`: save the model locally and upload it with
        its lineage; the control plane logs it into the model's experiment (creating the
        model, owned by ``team``, if new). Register the result with ``POST
        /v1/models/{name}/versions`` (``model_uri``, ``run_id``)."""
        import tempfile
        from pathlib import Path

        from ferry._registration import check_name, pack, save_model

        check_name(name)
        feature_refs: list[str] = []
        if isinstance(training_data, TrainingSet):
            feature_refs = list(training_data.feature_refs)
            training_data = training_data.features_only()
        self._transport.request("PUT", f"/v1/models/{name}",
                                json={"description": description, "team": team})
        with tempfile.TemporaryDirectory(prefix="ferry-register-") as tmp:
            model_dir = Path(tmp) / "model"
            lineage = save_model(model, model_dir, name=name, training_data=training_data,
                                 target=target, params=params, metrics=metrics,
                                 code=code_version, feature_refs=feature_refs)
            archive = pack(model_dir, Path(tmp) / "model.tar.gz")
            with archive.open("rb") as raw:
                upload = _Upload(raw, archive.stat().st_size, on_progress)
                return LoggedModelPublic.model_validate(self._transport.request(
                    "POST", f"/v1/models/{name}/logged-models",
                    files={"archive": ("model.tar.gz", upload, "application/gzip")},
                    data={"lineage": lineage.model_dump_json(by_alias=True)}))

    def models(self) -> list[ModelPublic]:
        return [ModelPublic.model_validate(m) for m in self._transport.request("GET", "/v1/models")]

    def model(self, name: str) -> ModelPublic:
        return ModelPublic.model_validate(self._transport.request("GET", f"/v1/models/{name}"))

    def versions(self, name: str) -> list[ModelVersionPublic]:
        return [ModelVersionPublic.model_validate(v)
                for v in self._transport.request("GET", f"/v1/models/{name}/versions")]

    def version(self, name: str, version: int) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(
            self._transport.request("GET", f"/v1/models/{name}/versions/{version}"))


class _Upload:
    """A file httpx streams from, reporting how much of it was sent."""

    def __init__(self, raw: Any, size: int, on_progress: Progress | None) -> None:
        self._raw, self._size, self._on_progress = raw, size, on_progress
        self._sent, self._shown = 0, -1

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self._raw.read(n)
        self._sent += len(chunk)
        percent = int(100 * self._sent / max(self._size, 1))
        if self._on_progress is not None and percent != self._shown:
            self._shown = percent
            self._on_progress(f"uploading the model ({self._size / 2**20:.1f} MiB)", percent)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        self._sent = 0
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def fileno(self) -> int:
        return int(self._raw.fileno())
