"""Real Bento builds from registered versions: pinned, labelled, reproducible, verified."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _models import FEATURES, lightgbm_model, sklearn_pipeline, training_frame

from ferry_contract import IncompatibleRelease


@pytest.fixture(scope="module")
def version(registry_client):  # type: ignore[no-untyped-def]
    return registry_client.register(sklearn_pipeline(), name="pkg-churn",
                                    training_data=training_frame(), target="churned")


@pytest.fixture(scope="module")
def manifest(platform_core, version):  # type: ignore[no-untyped-def]
    return platform_core.packager.build(version)


def test_bento_pins_the_exact_model_and_carries_the_manifest(manifest, version, settings) -> None:  # type: ignore[no-untyped-def]
    import bentoml

    bento = bentoml.get(manifest.bento_tag)
    labels = dict(bento.info.labels)
    assert labels["ferry.model"] == "pkg-churn" and labels["ferry.version"] == str(version.version)
    assert labels["ferry.model_digest"] == version.model_digest
    assert labels["ferry.training_data_digest"] == version.training_data_digest
    assert labels["ferry.code_version"] == version.code_version
    assert [m.tag.version for m in bento.info.models] != ["latest"]
    model_tag = str(bento.info.models[0].tag)
    src = "".join(p.read_text() for p in Path(bento.path, "src").glob("*.py"))
    assert f"MODEL_TAG = {model_tag!r}" in src and "latest" not in model_tag
    assert manifest.requirements and all("==" in r for r in manifest.requirements)
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    assert Path(manifest.bento_uri).is_file()


def test_the_bento_serves_the_models_own_predictions(manifest) -> None:  # type: ignore[no-untyped-def]
    import bentoml

    svc = bentoml.load(manifest.bento_tag).inner()
    rows = training_frame(seed=5)[FEATURES].head(50)
    assert svc.predict(rows.to_dict("records")) == sklearn_pipeline().predict(rows).tolist()


def test_rebuilding_the_same_version_reuses_the_release(platform_core, version, manifest) -> None:  # type: ignore[no-untyped-def]
    import bentoml

    before = len(bentoml.list("ferry-pkg-churn"))
    again = platform_core.packager.build(version)
    assert again.release_id == manifest.release_id
    assert len(bentoml.list("ferry-pkg-churn")) == before


def test_lightgbm_models_package_too(registry_client, platform_core) -> None:  # type: ignore[no-untyped-def]
    import bentoml

    train = training_frame()
    mv = registry_client.register(lightgbm_model(), name="pkg-lgbm",
                                  training_data=train.drop(columns=["plan"]), target="churned")
    assert mv.framework == "lightgbm"
    m = platform_core.packager.build(mv)
    assert any(r.startswith("lightgbm==") for r in m.requirements)
    rows = training_frame(seed=6).drop(columns=["plan", "churned"]).head(30)
    svc = bentoml.load(m.bento_tag).inner()
    assert svc.predict(rows.to_dict("records")) == lightgbm_model().predict(rows).tolist()


def test_weights_changed_after_registration_are_refused(registry_client, platform_core,  # type: ignore[no-untyped-def]
                                                       settings) -> None:
    mv = registry_client.register(sklearn_pipeline(c=0.5), name="pkg-tamper",
                                  training_data=training_frame(), target="churned")
    weights = [p for p in Path(settings.mlflow_artifact_root, "pkg-tamper").rglob("model.skops")]
    assert len(weights) == 1
    weights[0].write_bytes(weights[0].read_bytes() + b"tampered")
    with pytest.raises(IncompatibleRelease, match="differ from the registry"):
        platform_core.packager.build(mv)
    assert os.environ["BENTOML_HOME"] == settings.bentoml_home


def test_a_node_without_the_bento_imports_it_from_the_release_store(manifest, settings) -> None:  # type: ignore[no-untyped-def]
    import bentoml

    from ferry_platform.serving._replica import load_release

    bentoml.delete(manifest.bento_tag)  # as on a fresh cluster node
    loaded, svc = load_release({"manifest": manifest.model_dump(mode="json"),
                                "bentoml_home": settings.bentoml_home})
    assert loaded.release_id == manifest.release_id
    assert bentoml.get(manifest.bento_tag).info.labels["ferry.release_id"] == manifest.release_id
    rows = training_frame(seed=8)[FEATURES].head(10)
    assert svc.predict(rows.to_dict("records")) == sklearn_pipeline().predict(rows).tolist()
