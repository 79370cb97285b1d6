"""One behavioural suite for :class:`Packager`, run on the fake the control-plane tests use
and on BentoPackager (real Bento builds): a release names its exact version and digest and
carries its lineage; building the same version again gives the same release; another
version gives another; ``get`` finds what was built and nothing else; a version without a
recorded digest is refused. A fake that built everything alike, or forgot what it built,
fails here."""

from __future__ import annotations

from typing import Any

import pytest
from _fakes import FakePackager
from _models import sklearn_pipeline, training_frame

from ferry_contract import IncompatibleRelease
from ferry_platform.packaging import Packager


@pytest.fixture(scope="module")
def versions(registry_client) -> list[Any]:  # type: ignore[no-untyped-def]
    """Two registered versions of one model (real MLflow artifacts)."""
    return [registry_client.register(sklearn_pipeline(c=c), name="pkg-contract",
                                     training_data=training_frame(), target="churned")
            for c in (0.5, 2.0)]


@pytest.fixture(params=["fake", "bentoml"])
def packager(request: pytest.FixtureRequest) -> Packager:
    if request.param == "fake":
        return FakePackager()
    return request.getfixturevalue("platform_core").packager  # type: ignore[no-any-return]


def test_a_release_names_its_exact_version_and_is_found_again(packager: Packager,
                                                               versions: list[Any]) -> None:
    v1, v2 = versions
    first = packager.build(v1)
    assert (first.model, first.version, first.model_digest) == \
        ("pkg-contract", v1.version, v1.model_digest)
    assert (first.training_data_digest, first.code_version, first.framework) == \
        (v1.training_data_digest, v1.code_version, v1.framework)
    assert [c.name for c in first.signature] == [c.name for c in v1.signature]
    assert first.release_id.startswith(f"pkg-contract-v{v1.version}-")
    assert packager.build(v1).release_id == first.release_id  # the same inputs, the same
    second = packager.build(v2)
    assert second.release_id != first.release_id
    found = packager.get(first.release_id)
    assert found is not None and found.release_id == first.release_id
    assert found.model_digest == v1.model_digest
    assert packager.get("pkg-contract-v99-0000000000") is None


def test_a_version_without_a_recorded_digest_is_refused(packager: Packager,
                                                        versions: list[Any]) -> None:
    with pytest.raises(IncompatibleRelease, match="digest"):
        packager.build(versions[0].model_copy(update={"model_digest": ""}))
