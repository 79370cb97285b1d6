"""Secrets stay where they belong: the online store's Redis password never travels in Ray
Serve's application config (anyone who can read Ray's state can read it; replicas read the
password from their environment), and the platform's home and secret files are private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _fakes import FakePackager, FakeRegistry

from ferry_contract import Protocol
from ferry_platform import Settings
from ferry_platform.core import FeatureBinding
from ferry_platform.features import FeastFeatures
from ferry_platform.features._feast import REDIS_PASSWORD_ENV, OnlineFetcher, split_password
from ferry_platform.serving import RayServeRuntime, Route
from ferry_platform.serving._appconfig import release_config

SECRET = "s3cret-Redis-pw"


def features(tmp_path) -> FeastFeatures:  # type: ignore[no-untyped-def]
    return FeastFeatures(repo=tmp_path, project="p", registry_uri=str(tmp_path / "r.db"),
                         online_store="redis",
                         redis=f"redis.internal:6380,password={SECRET},ssl=true")


def test_the_redis_password_is_not_in_the_serve_application_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = features(tmp_path)
    binding = FeatureBinding(fetcher=f.fetcher, config=f.online_config(),
                             refs=["stats@v1:x"], entity_keys={"id": "Int64"})
    manifest = FakePackager().build(FakeRegistry({"m": [1]}).get_version("m", 1))
    serving = Settings(home=tmp_path).serving_config()
    RayServeRuntime(serving, worker_secrets=f.worker_secrets())  # takes the secrets aside
    config = release_config(serving, "m", Route(manifest, 100, 1, Protocol.auto, binding))
    assert SECRET not in json.dumps(config)
    assert binding.config["redis"] == "redis.internal:6380,ssl=true"
    assert f.worker_secrets() == {REDIS_PASSWORD_ENV: SECRET}


def test_a_replica_reads_the_password_from_its_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = features(tmp_path).online_config()
    monkeypatch.delenv(REDIS_PASSWORD_ENV, raising=False)
    with pytest.raises(RuntimeError, match=REDIS_PASSWORD_ENV):
        OnlineFetcher(**config)
    monkeypatch.setenv(REDIS_PASSWORD_ENV, SECRET)
    fetcher = OnlineFetcher(**config)
    assert split_password(fetcher._features._redis) == ("redis.internal:6380,ssl=true", SECRET)


def test_no_password_no_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = FeastFeatures(repo=tmp_path, project="p", registry_uri=str(tmp_path / "r.db"),
                      online_store="redis", redis="127.0.0.1:6379")
    assert f.worker_secrets() == {} and f.online_config()["redis_password_env"] is None


def test_the_home_is_private_and_secrets_are_tightened(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ferry_platform import Platform

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    for secret in ("credentials.json", "ferry.env"):  # written by older versions, or by hand
        (home / secret).write_text("{}" if secret.endswith(".json") else "")
        (home / secret).chmod(0o644)
    Platform.from_settings(Settings(home=home))
    assert home.stat().st_mode & 0o777 == 0o700
    for secret in ("credentials.json", "ferry.env"):
        assert (home / secret).stat().st_mode & 0o777 == 0o600, secret


@pytest.mark.parametrize("given, feast", [
    (f"redis://:{SECRET}@redis.internal:6380/2", f"redis.internal:6380,password={SECRET},db=2"),
    (f"rediss://default:{SECRET}@redis.internal", f"redis.internal:6379,password={SECRET},ssl=true"),
    ("redis://redis.internal:6380", "redis.internal:6380"),
    ("redis.internal:6380,ssl=true", "redis.internal:6380,ssl=true"),
])
def test_a_redis_url_is_turned_into_feasts_form_so_its_password_is_split_out(
        tmp_path: Path, given: str, feast: str) -> None:
    """A URL's password sits inside the host part, where split_password cannot see it: it
    would reach every replica's Serve config. Settings turn it into Feast's form first."""
    settings = Settings(home=tmp_path, feature_redis=given)
    assert settings.feature_redis == feast
    connection, password = split_password(settings.feature_redis)
    assert SECRET not in connection and password == (SECRET if SECRET in given else None)


@pytest.mark.parametrize("given", [f"user:{SECRET}@redis.internal:6379", "http://redis:6379",
                                   "redis://:pw@:6379", "redis://host:6379/zero"])
def test_a_redis_connection_that_hides_a_password_or_is_malformed_is_refused(
        tmp_path: Path, given: str) -> None:
    with pytest.raises(ValueError, match="FERRY_FEATURE_REDIS") as e:
        Settings(home=tmp_path, feature_redis=given)
    assert SECRET not in str(e.value)
