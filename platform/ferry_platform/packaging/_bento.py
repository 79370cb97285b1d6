"""Builds Bentos from MLflow model versions with BentoML's public API.

A release is named ``ferry-<model>:v<version>-<hash>`` where the hash covers the model
digest, the service code and the pinned requirements: the same inputs give the same
release (re-deploys reuse it), any change gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ferry_contract import IncompatibleRelease, ModelVersionPublic, ReleaseFailed
from ferry_platform.core import ReleaseManifest, directory_digest
from ferry_platform.packaging._template import SERVICE_CLASS, TEMPLATE

_BUILD_LOCK = threading.Lock()


def release_id_for(version: ModelVersionPublic, ferry_version: str, requirements: list[str]) -> str:
    h = hashlib.sha256()
    for part in (version.model_digest, ferry_version, TEMPLATE, *sorted(requirements)):
        h.update(part.encode() + b"\0")
    return f"{version.name}-v{version.version}-{h.hexdigest()[:10]}"


def _bento_name(model: str) -> str:
    return f"ferry-{model}"


def _read_requirements(model_dir: Path) -> list[str]:
    req = model_dir / "requirements.txt"
    if not req.exists():
        return []
    lines = [ln.strip() for ln in req.read_text().splitlines()]
    return sorted({ln for ln in lines if ln and not ln.startswith(("#", "-"))})


def _platform_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("bentoml", "mlflow", "pandas")]


class BentoPackager:
    """:class:`Packager` that writes Bentos into a BentoML store and exports them."""

    def __init__(
        self, *, bentoml_home: str, release_store_uri: str, ferry_version: str
    ) -> None:
        self._bentoml_home = bentoml_home
        self._release_store = release_store_uri
        self._ferry_version = ferry_version
        os.environ.setdefault("BENTOML_HOME", bentoml_home)

    def _bentoml(self) -> Any:
        if os.environ.get("BENTOML_HOME") != self._bentoml_home:
            os.environ["BENTOML_HOME"] = self._bentoml_home
        import bentoml

        return bentoml

    def get(self, release_id: str) -> ReleaseManifest | None:
        bentoml = self._bentoml()
        model, sep, rest = release_id.rpartition("-v")
        if not sep:
            return None
        try:
            bento = bentoml.get(f"{_bento_name(model)}:v{rest}")
        except bentoml.exceptions.NotFound:
            return None
        return ReleaseManifest.from_labels(dict(bento.info.labels))

    def build(self, version: ModelVersionPublic) -> ReleaseManifest:
        bentoml = self._bentoml()
        with _BUILD_LOCK:
            return self._build_locked(bentoml, version)

    def _build_locked(self, bentoml: Any, version: ModelVersionPublic) -> ReleaseManifest:
        import bentoml.mlflow

        if not version.model_digest:
            raise IncompatibleRelease(
                f"model {version.name!r} v{version.version} has no recorded model digest; "
                "it was not registered through Ferry. Register it with ferry.Client().register()."
            )
        with tempfile.TemporaryDirectory(prefix="ferry-build-") as tmp:
            # 1. Import the exact model version into the BentoML model store.
            model_tag = f"ferry-{version.name}-model:v{version.version}-{version.model_digest[7:19]}"
            try:
                bento_model = bentoml.models.get(model_tag)
            except bentoml.exceptions.NotFound:
                bento_model = self._import_model(bentoml, version, model_tag)
            model_dir = Path(bento_model.path) / "mlflow_model"
            digest = directory_digest(model_dir)
            if digest != version.model_digest:
                raise IncompatibleRelease(
                    f"the weights packaged for {version.name!r} v{version.version} "
                    f"({digest}) differ from the registry's ({version.model_digest}). "
                    "The artifact changed after registration; register a new version.",
                    details={"packaged_digest": digest, "registry_digest": version.model_digest},
                )
            requirements = sorted(set(_read_requirements(model_dir)) | set(_platform_requirements()))
            release_id = release_id_for(version, self._ferry_version, requirements)
            bento_version = release_id[len(version.name) + 1 :]
            bento_tag = f"{_bento_name(version.name)}:{bento_version}"
            try:
                existing = bentoml.get(bento_tag)
                return ReleaseManifest.from_labels(dict(existing.info.labels))
            except bentoml.exceptions.NotFound:
                pass

            manifest = ReleaseManifest(
                release_id=release_id,
                model=version.name,
                version=version.version,
                model_uri=version.model_uri,
                model_digest=version.model_digest,
                training_data_digest=version.training_data_digest,
                code_version=version.code_version,
                framework=version.framework,
                signature=version.signature,
                ferry_version=self._ferry_version,
                bento_tag=bento_tag,
                bento_uri=self._bento_uri(release_id),
                requirements=requirements,
                created_at=datetime.now(UTC).replace(microsecond=0),
            )
            # 2. Write the service module and build the Bento.
            ctx = Path(tmp) / "ctx"
            ctx.mkdir()
            module = "ferry_release_" + hashlib.sha256(release_id.encode()).hexdigest()[:12]
            (ctx / f"{module}.py").write_text(
                TEMPLATE.format(
                    release_id=release_id,
                    ferry_version=self._ferry_version,
                    model_tag=str(bento_model.tag),
                    columns_json=json.dumps([c.model_dump() for c in version.signature]),
                    service_name=f"ferry-{version.name}",
                )
            )
            try:
                bento = bentoml.bentos.build(
                    service=f"{module}:{SERVICE_CLASS}",
                    name=_bento_name(version.name),
                    version=bento_version,
                    labels=manifest.to_labels(),
                    description=f"Ferry release {release_id}",
                    include=[f"{module}.py"],
                    python={"packages": requirements, "lock_packages": False},
                    models=[str(bento_model.tag)],
                    build_ctx=str(ctx),
                )
            except Exception as e:
                raise ReleaseFailed(f"building the Bento for {release_id} failed: {e}") from e
            # 3. Export it so a replica on another node can import it.
            self._export(bentoml, str(bento.tag), release_id)
            return manifest

    def _import_model(self, bentoml: Any, version: ModelVersionPublic, model_tag: str) -> Any:
        try:
            # the concrete storage URI: no global MLflow tracking/registry state involved
            return bentoml.mlflow.import_model(
                model_tag,
                version.artifact_uri or f"models:/{version.name}/{version.version}",
                labels={
                    "ferry.model": version.name,
                    "ferry.version": str(version.version),
                    "ferry.model_digest": version.model_digest,
                },
            )
        except Exception as e:
            raise ReleaseFailed(
                f"could not fetch {version.name!r} v{version.version} from MLflow: {e}"
            ) from e

    def _bento_uri(self, release_id: str) -> str:
        if "://" in self._release_store:
            return f"{self._release_store.rstrip('/')}/{release_id}.bento"
        return str(Path(self._release_store) / f"{release_id}.bento")

    def _export(self, bentoml: Any, tag: str, release_id: str) -> None:
        uri = self._bento_uri(release_id)
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            if Path(uri).exists():
                return
            with tempfile.TemporaryDirectory(dir=Path(uri).parent) as tmp:
                part = str(Path(tmp) / Path(uri).name)
                bentoml.export_bento(tag, part)
                shutil.move(part, uri)
            return
        bentoml.export_bento(tag, uri)
