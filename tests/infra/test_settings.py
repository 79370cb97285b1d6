"""From the stack's outputs to Ferry's settings, and the platform running on them.

The stack is simulated with its data-store endpoints pointing at local stand-ins: moto's S3
server holds the four buckets the program names, the machine's PostgreSQL a database and role the
stack config names, and a redis-server that speaks only TLS with an AUTH token stands in for
ElastiCache. `ferry infra settings` turns the outputs into a ferry.env, and the same platform code
that runs on the embedded default registers a model, builds a release and serves features on it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _infra import INFRA, dev_config
from _services import moto_s3, postgres_available, tls_redis

from ferry_infra import Secrets, StackOutputsError, StandIns, load_teams, settings_from_outputs, simulate


@pytest.fixture(scope="module")
def simulated() -> Any:
    return simulate(dev_config(), load_teams(INFRA / "teams"))


def test_every_setting_is_one_the_platform_knows(simulated: Any) -> None:
    from ferry_platform import Settings

    env = settings_from_outputs(simulated.outputs)
    known = {f"FERRY_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in env if k.startswith("FERRY_")} <= known
    docs = (INFRA.parent / "docs" / "configuration.md").read_text()
    assert all(f"`{k}`" in docs for k in env if k.startswith("FERRY_"))
    assert ",ssl=true,password=mock-redis-auth-token," in env["FERRY_FEATURE_REDIS"]
    assert env["FERRY_MLFLOW_ARTIFACT_ROOT"] == f"s3://{simulated.outputs['artifactsBucket']}/mlflow"
    assert env["FERRY_RAY_ADDRESS"].startswith("ray://ferry-ray-head-svc.ferry-system.svc")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"databaseUrl": None}, "stack outputs lack ['databaseUrl']"),
        ({"redisConnection": "[secret]"}, "masked"),
    ],
)
def test_incomplete_outputs_are_refused_naming_the_output(simulated: Any, change: dict, says: str) -> None:
    outputs = {**simulated.outputs, **change}
    with pytest.raises(StackOutputsError, match=says.replace("[", r"\[").replace("]", r"\]")):
        settings_from_outputs(outputs)


def test_ray_pods_run_with_the_serve_env_the_platform_sets() -> None:
    from ferry_infra._ray import REDIS_PASSWORD_ENV, SERVE_ENV
    from ferry_platform import Settings
    from ferry_platform.serving import serve_env
    from ferry_platform.serving._environment import replica_port_ranges

    local = serve_env(
        Settings(serve_mode="throughput", serve_haproxy_stats_port=8404,
                 serve_haproxy_metrics_port=9101).serving_config()
    )  # tests use other ports
    # The Redis password reaches the cluster's Ray pods from a Secret (the next test), not SERVE_ENV.
    # The prediction log's location is the stack's S3 prefix, set beside SERVE_ENV (PREDICTION_LOG_ENV).
    # Replica port slices keep two platforms on one machine apart; a cluster's Ray pods serve one
    # platform and keep Serve's default ranges.
    own = {REDIS_PASSWORD_ENV, "FERRY_PREDICTION_LOG_URI", *replica_port_ranges(Settings().serving_config())}
    local = {k: v for k, v in local.items() if not k.startswith("AWS_") and k not in own}
    assert set(SERVE_ENV) == set(local)
    same = {k for k in local if "HAPROXY_" not in k or k.endswith(("_ENABLED", "_PORT"))} - {"BENTOML_HOME"}
    assert {k: SERVE_ENV[k] for k in same} == {k: local[k] for k in same}


def test_ray_pods_take_the_redis_password_from_a_secret(simulated: Any) -> None:
    """Head and workers: SERVE_ENV as literal values, the AUTH token only through a secretKeyRef to
    a Secret in Ray's namespace that the program fills with the token (as a Pulumi secret)."""
    from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

    from ferry_infra._ray import REDIS_PASSWORD_ENV, SERVE_ENV

    [ray] = simulated.of_type("kubernetes:ray.io/v1:RayCluster")
    namespace = ray.inputs["metadata"]["namespace"]
    secrets = {
        (s.inputs["metadata"]["namespace"], s.inputs["metadata"]["name"]): s.inputs
        for s in simulated.of_type("kubernetes:core/v1:Secret")
    }
    spec = ray.inputs["spec"]
    templates = [spec["headGroupSpec"]["template"], *(w["template"] for w in spec["workerGroupSpecs"])]
    assert len(templates) == 3  # head, CPU and GPU workers in the dev stack
    for template in templates:
        [container] = template["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert len(env) == len(container["env"])
        assert {k: env[k].get("value") for k in SERVE_ENV} == SERVE_ENV
        ref = env[REDIS_PASSWORD_ENV]
        assert "value" not in ref
        key = ref["valueFrom"]["secretKeyRef"]
        data = secrets[(namespace, key["name"])]["stringData"]
        assert data[_special_sig_key] == _special_secret_sig
        assert data["value"][key["key"]] == "mock-redis-auth-token"
        assert not any("mock-redis-auth-token" in json.dumps(e) for e in container["env"])


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """The dev stack simulated onto local stand-ins, its buckets created in moto."""
    if not postgres_available() and not os.environ.get("CI"):
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    import psycopg
    from _services import PG_ADMIN_URL

    tmp = tmp_path_factory.mktemp("stack")
    name = f"ferry_{uuid.uuid4().hex[:10]}"
    token = f"tok{uuid.uuid4().hex}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f"CREATE ROLE {name} LOGIN")
    admin.execute(f"CREATE DATABASE {name} OWNER {name}")
    saved = os.environ.get("SSL_CERT_FILE")
    try:
        with tls_redis(tmp, token) as (port, ca):
            os.environ["SSL_CERT_FILE"] = str(ca)  # the clients trust the stand-in's certificate
            config = dev_config(database={"name": name, "username": name, "deletionProtection": False})
            sim = simulate(
                config,
                load_teams(INFRA / "teams"),
                stand_ins=StandIns(postgres=("127.0.0.1", 5432), redis=("127.0.0.1", port)),
                secrets=Secrets(db_password="unused-with-trust-auth", redis_auth_token=token),
            )
            buckets = [
                sim.outputs[k]
                for k in ("artifactsBucket", "bentosBucket", "featureOfflineBucket", "featureRegistryBucket")
            ]
            with moto_s3(*buckets):
                yield sim, tmp
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.close()


@pytest.mark.postgres
def test_the_platform_runs_on_the_stacks_outputs(provisioned: tuple[Any, Path], settings: Any) -> None:
    import boto3
    import pandas as pd
    from _features_data import FEATURES, ROOT, T0, snapshots
    from _models import sklearn_pipeline, training_frame
    from conftest import _client_for
    from mlflow import MlflowClient

    from ferry_platform import Platform, Settings

    sim, tmp = provisioned
    out = sim.outputs
    (tmp / "outputs.json").write_text(json.dumps(out))
    env_file = tmp / "home" / "ferry.env"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferry_infra",
            "settings",
            "--outputs",
            str(tmp / "outputs.json"),
            "--write",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert env_file.stat().st_mode & 0o777 == 0o600

    # feature definitions whose source lives in the stack's offline bucket
    data = snapshots()
    buf = io.BytesIO()
    data.to_parquet(buf, index=False)
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=out["featureOfflineBucket"], Key="offline/customer_stats.parquet", Body=buf.getvalue()
    )
    repo = tmp / "features"
    repo.mkdir()
    source = (ROOT / "examples" / "features" / "customers.py").read_text()
    local = 'path=str(DATA / "customer_stats.parquet")'
    assert local in source
    (repo / "customers.py").write_text(
        source.replace(local, f'path="{out["featureOfflineUri"]}customer_stats.parquet"')
    )

    s = Settings(
        _env_file=str(env_file),
        home=tmp / "home",
        bentoml_home=settings.bentoml_home,  # type: ignore[call-arg]
        feature_repo=str(repo),
        feature_project="stackproj",
    )
    assert (s.database_url, s.feature_online_store, s.release_store_uri) == (
        out["databaseUrl"],
        "redis",
        out["releaseStoreUri"],
    )
    platform = Platform.from_settings(s)
    client = _client_for(platform)

    # the registry on the stack's database, the artifacts in its artifacts bucket
    mv = client.register(
        sklearn_pipeline(), name="stack-churn", training_data=training_frame(), target="churned"
    )
    run = MlflowClient(s.mlflow_tracking_uri, registry_uri=s.mlflow_tracking_uri).get_run(mv.run_id)
    assert run.info.artifact_uri.startswith(f"s3://{out['artifactsBucket']}/mlflow/")
    assert "postgresql" not in client.info().model_dump_json()  # clients get no DB URI
    # a release exported to the stack's Bento bucket
    manifest = platform.packager.build(mv)
    assert manifest.bento_uri == f"s3://{out['bentosBucket']}/releases/{manifest.release_id}.bento"
    assert s3.head_object(Bucket=out["bentosBucket"], Key=f"releases/{manifest.release_id}.bento")

    # features: registry in its bucket, materialized into Redis over TLS with the AUTH token
    feats = platform.features
    assert [c.change for c in feats.apply()] == ["new"]
    assert s3.head_object(Bucket=out["featureRegistryBucket"], Key="registry.pb")
    end = data["event_timestamp"].max().to_pydatetime()
    assert feats.materialize(T0 - timedelta(days=1), end + timedelta(seconds=1)) == ["customer_stats@v0"]
    refs = feats.pin([f"customer_stats:{f}" for f in FEATURES])
    ids = [3, 11]
    online = feats.online(refs, [{"customer_id": i} for i in ids])
    at = pd.DataFrame({"customer_id": ids, "event_timestamp": [end] * 2})
    offline = feats.training_set(refs, at).frame
    for f in FEATURES:
        assert online[f] == pytest.approx(offline[f].tolist())
    import redis

    host, port = out["redisEndpoint"].split(":")
    with pytest.raises(
        redis.exceptions.ConnectionError
    ):  # the stand-in refuses plain TCP, as ElastiCache does
        redis.Redis(host=host, port=int(port), password="x", socket_timeout=3).ping()
