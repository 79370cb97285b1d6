"""The production path: MLflow and Ferry's state on PostgreSQL, artifacts and exported
releases on S3 (moto's S3 server on loopback stands in for AWS)."""

from __future__ import annotations

import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from _services import moto_s3, postgres_available, postgres_database

import ferry

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not postgres_available() and not __import__("os").environ.get("CI"),
                                 reason="PostgreSQL on 127.0.0.1:5432 is not running")]


@pytest.fixture(scope="module")
def prod_platform(tmp_path_factory, settings):  # type: ignore[no-untyped-def]
    from ferry_platform import Platform, Settings

    with moto_s3("ferry-test") as endpoint, postgres_database() as mlflow_db, \
            postgres_database() as state_db:
        s = Settings(
            home=tmp_path_factory.mktemp("prod-home"),
            mlflow_tracking_uri=mlflow_db,
            mlflow_artifact_root="s3://ferry-test/mlflow",
            database_url=state_db,
            release_store_uri="s3://ferry-test/releases",
            bentoml_home=settings.bentoml_home,  # one BentoML store per process
        )
        platform = Platform.from_settings(s)
        try:
            yield platform, endpoint
        finally:  # its lease heartbeat must not outlive the database dropped below
            platform.jobs.shutdown(wait=True)


@pytest.fixture(scope="module")
def prod_client(prod_platform):  # type: ignore[no-untyped-def]
    from conftest import _client_for

    return _client_for(prod_platform[0])


def test_register_on_postgres_with_artifacts_on_s3(prod_platform, prod_client) -> None:  # type: ignore[no-untyped-def]
    import boto3
    from mlflow import MlflowClient

    platform, _ = prod_platform
    mv = prod_client.register(sklearn_pipeline(), name="pg-churn",
                              training_data=training_frame(), target="churned", params={"C": 1})
    assert "postgresql" not in prod_client.info().model_dump_json()  # clients get no DB URI
    uri = platform.settings.mlflow_tracking_uri
    run = MlflowClient(uri, registry_uri=uri).get_run(mv.run_id)
    assert run.info.artifact_uri.startswith("s3://ferry-test/mlflow/pg-churn")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket="ferry-test", Prefix="mlflow/pg-churn")["Contents"]]
    assert any(k.endswith("model.skops") for k in keys)
    assert mv.version == 1 and [v.version for v in prod_client.versions("pg-churn")] == [1]
    with pytest.raises(ferry.VersionNotFound):
        prod_client.version("pg-churn", 2)


def test_release_built_from_s3_is_verified_exported_and_recorded(prod_platform, prod_client) -> None:  # type: ignore[no-untyped-def]
    import bentoml
    import boto3

    platform, _ = prod_platform
    mv = prod_client.version("pg-churn", 1)
    manifest = platform.packager.build(mv)
    assert manifest.model_digest == mv.model_digest
    assert manifest.bento_uri == f"s3://ferry-test/releases/{manifest.release_id}.bento"
    head = boto3.client("s3").head_object(Bucket="ferry-test",
                                          Key=f"releases/{manifest.release_id}.bento")
    assert head["ContentLength"] > 1000
    platform.store.save_release(manifest)
    assert platform.store.get_release(manifest.release_id) == manifest
    rows = training_frame(seed=3)[FEATURES].head(20)
    svc = bentoml.load(manifest.bento_tag).inner()
    assert svc.predict(rows.to_dict("records")) == sklearn_pipeline().predict(rows).tolist()
