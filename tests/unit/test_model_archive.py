"""An uploaded model archive is read as hostile: what it may hold, how much, and MLmodel."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from ferry_contract import InvalidRequest
from ferry_platform.registry._archive import check_mlmodel, read_mlmodel, unpack

SIGNATURE = {"inputs": json.dumps([{"type": "double", "name": "x", "required": True}]),
             "outputs": json.dumps([{"type": "long", "required": True}])}
MLMODEL = {"flavors": {"python_function": {"loader_module": "mlflow.sklearn", "model_path":
                                           "model.pkl", "env": {}},
                       "sklearn": {"pickled_model": "model.pkl", "serialization_format":
                                   "cloudpickle"}},
           "signature": SIGNATURE}


def _archive(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, None


def _mlmodel(data: object = MLMODEL) -> tuple[tarfile.TarInfo, bytes]:
    import yaml

    return _file("MLmodel", yaml.safe_dump(data).encode())


def test_a_plain_model_directory_unpacks(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("sub")
    folder.type = tarfile.DIRTYPE
    written = unpack(_archive([_mlmodel(), (folder, None), _file("sub/model.pkl", b"123")]),
                     tmp_path, max_bytes=10_000)
    assert (tmp_path / "sub" / "model.pkl").read_bytes() == b"123" and written > 3
    check_mlmodel(read_mlmodel(tmp_path), "sklearn")


@pytest.mark.parametrize("entry, problem", [
    (_special("MLmodel", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (_special("weights", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    (_special("dev", tarfile.CHRTYPE), "device"),
    (_special("disk", tarfile.BLKTYPE), "device"),
    (_special("pipe", tarfile.FIFOTYPE), "FIFO"),
    (_file("/etc/cron.d/evil"), "absolute path"),
    (_file("../../outside"), "outside the model directory"),
    (_file("sub/../../outside"), "outside the model directory"),
    (_file("a\\..\\b"), "not a plain relative path"),
])
def test_links_devices_and_escaping_paths_are_refused(tmp_path: Path, entry, problem) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "model"
    target.mkdir()
    with pytest.raises(InvalidRequest, match=problem):
        unpack(_archive([_mlmodel(), entry]), target, max_bytes=10_000)
    assert not (tmp_path / "outside").exists()
    assert all(not p.is_symlink() for p in tmp_path.rglob("*"))


def test_a_name_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="appears twice"):
        unpack(_archive([_mlmodel(), _file("w", b"1"), _file("./w", b"2")]), tmp_path,
               max_bytes=10_000)


def test_a_compression_bomb_is_refused_before_it_is_written(tmp_path: Path) -> None:
    bomb = _archive([_mlmodel(), _file("weights.bin", bytes(8 * 2**20))])  # 8 MiB of zeros
    assert len(bomb.getvalue()) < 64 * 1024  # a few KiB on the wire
    with pytest.raises(InvalidRequest, match="unpacks to more than 1,048,576 bytes"):
        unpack(bomb, tmp_path, max_bytes=2**20)
    assert not (tmp_path / "weights.bin").exists()


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    many = _archive([_file(f"f{i}") for i in range(30)])
    with pytest.raises(InvalidRequest, match="more than 20 entries"):
        unpack(many, tmp_path, max_bytes=10_000, max_members=20)


@pytest.mark.parametrize("payload", [b"", b"not a tarball", gzip.compress(b"not a tar" * 100)],
                         ids=["empty", "plain-text", "gzip-of-text"])
def test_what_is_not_a_tar_gz_is_refused(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(InvalidRequest, match="gzip-compressed tar"):
        unpack(io.BytesIO(payload), tmp_path, max_bytes=10_000)


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    whole = _archive([_mlmodel(), _file("w", bytes(range(256)) * 400)]).getvalue()
    with pytest.raises(InvalidRequest, match="gzip-compressed tar"):
        unpack(io.BytesIO(whole[: len(whole) // 2]), tmp_path, max_bytes=10**6)


def test_mlmodel_is_parsed_safely(tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    (tmp_path / "MLmodel").write_text(
        f"flavors: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(InvalidRequest, match="not valid YAML"):
        read_mlmodel(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("change, problem", [
    ({"flavors": {"sklearn": {}}}, "no 'python_function' flavor"),
    ({"flavors": {"python_function": {"loader_module": "mlflow.sklearn"}}}, "no 'sklearn' flavor"),
    ({"flavors": {**MLMODEL["flavors"],  # type: ignore[dict-item]
                  "python_function": {"loader_module": "evil_module"}}}, "evil_module"),
    ({"flavors": {**MLMODEL["flavors"],  # type: ignore[dict-item]
                  "python_function": {"loader_module": "mlflow.sklearn", "code": "code"}}},
     "code paths"),
    ({"signature": None}, "no signature"),
    ({"signature": {"inputs": "{not json"}}, "not JSON"),
])
def test_mlmodel_must_be_a_servable_model_of_its_framework(tmp_path: Path, change, problem) -> None:  # type: ignore[no-untyped-def]
    import yaml

    (tmp_path / "MLmodel").write_text(yaml.safe_dump({**MLMODEL, **change}))
    with pytest.raises(InvalidRequest, match=problem):
        check_mlmodel(read_mlmodel(tmp_path), "sklearn")
