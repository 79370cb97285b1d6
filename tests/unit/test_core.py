from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from ferry_contract import ColumnSpec
from ferry_platform.core import ReleaseManifest, directory_digest


def test_digest_is_stable_across_copies_and_ignores_registry_files(tmp_path: Path) -> None:
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "MLmodel").write_text("flavors: {}")
    (a / "sub" / "w.bin").write_bytes(b"\x00\x01")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "registered_model_meta").write_text("model_name: x")
    assert directory_digest(a) == directory_digest(b)
    (b / "sub" / "w.bin").write_bytes(b"\x00\x02")
    assert directory_digest(a) != directory_digest(b)
    (b / "sub" / "w.bin").write_bytes(b"\x00\x01")
    (b / "sub" / "w.bin").rename(b / "sub" / "v.bin")
    assert directory_digest(a) != directory_digest(b)


def test_manifest_survives_bento_labels() -> None:
    m = ReleaseManifest(
        release_id="churn-v2-abc", model="churn", version=2, model_uri="models:/m-1",
        model_digest="sha256:1", training_data_digest="d1", code_version="git:abc",
        framework="sklearn", signature=[ColumnSpec(name="x", type="double")],
        ferry_version="0.1.0", bento_tag="ferry-churn:v2-abc", requirements=["a==1"],
        created_at=datetime(2026, 1, 2, tzinfo=UTC))
    labels = m.to_labels()
    assert all(isinstance(v, str) for v in labels.values())
    assert labels["ferry.model_digest"] == "sha256:1"
    assert ReleaseManifest.from_labels(labels) == m
