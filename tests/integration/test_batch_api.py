"""Batch scoring through the API, without Ray: who may start it (deployers of the model's
team), and every input that cannot run refused with a 4xx naming the value before any job
starts (the runtime is a fake; tests/e2e/test_batch.py scores for real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from _control_plane import Env, env_on
from _synth import signal

import ferry


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    e = next(env_on("sqlite", tmp_path_factory, "batch"))
    e.deploy("deployer-a")
    yield e


@pytest.fixture
def area(env: Env, tmp_path: Path) -> Path:
    """A fresh directory of this test's own under team alpha's data root."""
    [root] = env.client(env.tokens["deployer-a"]).batch.roots()["alpha"]
    return Path(root) / tmp_path.name


def _source(tmp: Path, frame: pd.DataFrame) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(tmp / "rows.parquet", index=False)
    return str(tmp)


def test_only_deployers_of_the_models_team_may_score(env: Env, area: Path) -> None:
    src = _source(area / "in", signal(20, seed=3)[["x"]])
    for user in ("viewer-a", "deployer-b", "outsider"):
        with pytest.raises(ferry.Forbidden, match="create batch job"):
            env.client(env.tokens[user]).batch_score("alpha-model", source=src,
                                                     dest=str(area / "out"))
    events = env.client(env.admin).audit(action="create_batch_job")
    assert {e.actor for e in events if e.outcome == "denied"} >= {"viewer-a", "deployer-b"}


def test_inputs_that_cannot_run_are_refused_before_any_job(env: Env, area: Path) -> None:
    c = env.client(env.tokens["deployer-a"])
    jobs = len(c.batch.list(500))
    rows = signal(30, seed=4)
    src = _source(area / "extra", rows.assign(customer="c"))
    with pytest.raises(ferry.InvalidInput, match="'customer'") as extra:
        c.batch_score("alpha-model", source=src, dest=str(area / "out"))
    assert extra.value.status == 422 and extra.value.details["unexpected"] == ["y", "customer"]
    src = _source(area / "missing", rows[["y"]])
    with pytest.raises(ferry.InvalidInput, match=r"missing column\(s\) \['x'\]") as missing:
        c.batch_score("alpha-model", source=src, dest=str(area / "out"), keep=["y"])
    assert missing.value.details["missing"] == ["x"]
    src = _source(area / "typed", rows.assign(x=rows["x"].astype(str))[["x"]])
    with pytest.raises(ferry.InvalidInput, match="'x' is string in the input"):
        c.batch_score("alpha-model", source=src, dest=str(area / "out"))
    good = _source(area / "good", rows[["x"]])
    with pytest.raises(ferry.InvalidInput, match=r"keep names column\(s\) \['id'\]"):
        c.batch_score("alpha-model", source=good, dest=str(area / "out"), keep=["id"])
    (area / "full").mkdir()
    (area / "full" / "old.parquet").write_bytes(b"x")
    with pytest.raises(ferry.Conflict, match="already holds files"):
        c.batch_score("alpha-model", source=good, dest=str(area / "full"))
    with pytest.raises(ferry.NotFound, match="holds no file"):
        c.batch_score("alpha-model", source=str(area / "none" / "*.parquet"),
                      dest=str(area / "out"))
    with pytest.raises(ferry.InvalidRequest, match="a path or an s3:// URI"):
        c.batch_score("alpha-model", source="gs://bucket/x.parquet", dest=str(area / "o"))
    with pytest.raises(ferry.NotFound, match="does not run release 'alpha-model-v9-x'"):
        c.batch_score("alpha-model", source=good, dest=str(area / "out"),
                      release_id="alpha-model-v9-x")
    with pytest.raises(ferry.InvalidRequest, match="dest"):
        c.batch_score("alpha-model", source=good, dest="")
    # files that are not what their names say: a 400 naming the source, never a 500
    (area / "fake").mkdir()
    (area / "fake" / "a.parquet").write_bytes(b"not parquet at all")
    (area / "empty").mkdir()
    (area / "empty" / "a.csv").write_bytes(b"")
    for bad, fmt in ((area / "fake", "parquet"), (area / "empty", "csv")):
        with pytest.raises(ferry.InvalidRequest, match=f"cannot be read as {fmt}") as read:
            c.batch_score("alpha-model", source=str(bad), dest=str(area / "out"))
        assert read.value.status == 400 and str(bad) in str(read.value)
    assert len(c.batch.list(500)) == jobs
    assert not (area / "out").exists()


def test_a_job_reads_and_writes_only_under_its_teams_data_roots(env: Env, area: Path,
                                                                 tmp_path: Path) -> None:
    """The platform reads and writes for the job, so a location outside the model's team's
    roots is refused before anything is touched, the same whether it exists or not."""
    c = env.client(env.tokens["deployer-a"])
    assert set(c.batch.roots()) == {"alpha"}
    assert set(env.client(env.tokens["deployer-b"]).batch.roots()) == {"beta"}
    assert set(env.client(env.admin).batch.roots()) >= {"alpha", "beta"}
    assert env.client(env.tokens["outsider"]).batch.roots() == {}
    [root] = c.batch.roots()["alpha"]
    [beta_root] = env.client(env.tokens["deployer-b"]).batch.roots()["beta"]
    rows = signal(30, seed=9)[["x"]]
    outside = _source(tmp_path / "outside", rows)  # a readable table, outside every root
    beta = _source(Path(beta_root) / tmp_path.name, rows)  # another team's data
    _source(area / "in", rows)
    (area / "in-link").symlink_to(Path(outside) / "rows.parquet")
    (area / "linked").mkdir()
    (area / "linked" / "rows.parquet").symlink_to(Path(outside) / "rows.parquet")
    jobs = len(c.batch.list(500))
    refused = [(outside, str(area / "o1")), (str(tmp_path / "missing"), str(area / "o1")),
               (beta, str(area / "o1")), (str(area / ".." / ".." / tmp_path.name / "x"),
                                          str(area / "o1")),
               (f"{area}/../../../../etc", str(area / "o1")),
               (str(area / "in-link"), str(area / "o1")),
               (str(area / "in"), str(tmp_path / "out")), (str(area / "in"), "/tmp/o"),
               (str(area / "in"), str(Path(beta_root) / "o")), (str(area / "in"), "../o"),
               (str(area / "in"), "s3://other-bucket/alpha/o/"), ("file:///etc", "o")]
    for source, dest in refused:
        with pytest.raises(ferry.Forbidden, match="outside team 'alpha'") as e:
            c.batch_score("alpha-model", source=source, dest=dest)
        assert root in str(e.value) and e.value.status == 403
    answers = []  # an existing and a missing path outside differ in nothing but the value
    for where in (outside, str(tmp_path / "missing")):
        with pytest.raises(ferry.Forbidden) as e:
            c.batch_score("alpha-model", source=where, dest="o2")
        answers.append(str(e.value).replace(where, "S"))
    assert answers[0] == answers[1]
    with pytest.raises(ferry.Forbidden, match="a link to a file outside"):
        c.batch_score("alpha-model", source=str(area / "linked"), dest=str(area / "o3"))
    for bad in ("s3://bucket/../x", "s3://bucket//x", "gs://b/x", "bad\x00name"):
        with pytest.raises(ferry.InvalidRequest) as e:
            c.batch_score("alpha-model", source=bad, dest="o4")
        assert e.value.status == 400
    assert len(c.batch.list(500)) == jobs  # nothing started
    assert not any((area / d).exists() for d in ("o1", "o2", "o3"))
    assert not (tmp_path / "out").exists() and not (Path(beta_root) / "o").exists()


def test_a_relative_location_is_taken_under_the_teams_first_root(env: Env, area: Path) -> None:
    """Checked up to the job's start: the plan names the resolved locations (fake runtime)."""
    c = env.client(env.tokens["deployer-a"])
    _source(area / "in", signal(10, seed=10).assign(region="eu"))
    with pytest.raises(ferry.InvalidInput, match="'region'") as e:  # got as far as the columns
        c.batch_score("alpha-model", source=f"{area.name}/in", dest=f"{area.name}/out")
    assert str(area / "in") in str(e.value)


def test_the_source_is_listed_typed_and_digested_without_reading_rows(tmp_path: Path) -> None:
    from ferry_platform.serving import inspect_source

    rows = signal(100, seed=5)
    (tmp_path / "in").mkdir()
    rows.iloc[:60].to_parquet(tmp_path / "in" / "a.parquet", index=False)
    rows.iloc[60:].to_parquet(tmp_path / "in" / "b.parquet", index=False)
    (tmp_path / "in" / "_SUCCESS").write_text("")
    info = inspect_source(str(tmp_path / "in" / "*.parquet"))
    assert [Path(f).name for f in info.files] == ["a.parquet", "b.parquet"]
    assert info.rows == 100 and info.columns == ["x", "y"] and info.types["x"] == "double"
    assert inspect_source(str(tmp_path / "in")).digest == info.digest
    rows.to_parquet(tmp_path / "in" / "b.parquet", index=False)  # a file changed
    assert inspect_source(str(tmp_path / "in")).digest != info.digest


def test_the_batch_frame_is_the_data_planes_frame() -> None:
    """Batch and Serve give the model the same values and dtypes."""
    import numpy as np

    from ferry_contract import ColumnSpec
    from ferry_platform.serving import DataPlane
    from ferry_platform.serving._batch import model_frame

    sig = [ColumnSpec(name="n", type="long"), ColumnSpec(name="f", type="float"),
           ColumnSpec(name="s", type="string"), ColumnSpec(name="d", type="double",
                                                           required=False)]
    frame = pd.DataFrame({"s": ["a", "b", "c"], "n": [1, 2, 3], "f": [0.5, 1.5, 2.5],
                          "d": [1.0, None, 3.0]})
    plane = DataPlane(sig, lambda f: f)
    want = plane.frame({"n": [1, 2, 3], "f": [0.5, 1.5, 2.5], "s": ["a", "b", "c"],
                        "d": [1.0, None, 3.0]})
    got = model_frame(sig, frame)
    pd.testing.assert_frame_equal(got, want)
    assert got["f"].dtype == np.float32
    with pytest.raises(ferry.InvalidInput, match="'n' is null in row 1"):
        model_frame(sig, frame.assign(n=[1, None, 3]))


def test_an_s3_source_is_listed_and_an_s3_dest_checked(tmp_path: Path) -> None:
    """moto's S3 server stands in for AWS: a glob over s3://, the digest, a non-empty dest."""
    import boto3
    from _services import moto_s3

    from ferry_platform.serving import check_dest, inspect_source

    with moto_s3("batch-in"):
        s3 = boto3.client("s3")
        rows = signal(50, seed=6)
        for i, part in enumerate((rows.iloc[:20], rows.iloc[20:])):
            part.to_parquet(tmp_path / f"p{i}.parquet", index=False)
            s3.upload_file(str(tmp_path / f"p{i}.parquet"), "batch-in",
                           f"customers/p{i}.parquet")
        s3.put_object(Bucket="batch-in", Key="customers/notes.txt", Body=b"-")
        info = inspect_source("s3://batch-in/customers/*.parquet")
        assert info.files == ["s3://batch-in/customers/p0.parquet",
                              "s3://batch-in/customers/p1.parquet"]
        assert info.rows == 50 and info.columns == ["x", "y"]
        with pytest.raises(ferry.InvalidRequest, match="unsupported files"):
            inspect_source("s3://batch-in/customers/")
        check_dest("s3://batch-in/scores/")  # nothing there yet
        with pytest.raises(ferry.Conflict, match="already holds files"):
            check_dest("s3://batch-in/customers/")


def test_the_cli_names_the_refused_column(env: Env, area: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    import ferry.cli as cli
    from ferry.cli import _common

    monkeypatch.setattr(_common, "make_client",
                        lambda *a, **k: env.client(env.tokens["deployer-a"]))
    src = _source(area / "in", signal(10, seed=8).assign(region="eu"))
    run = CliRunner().invoke(cli.app, ["batch", "score", "alpha-model", "--source", src,
                                       "--dest", str(area / "out"), "--keep", "y"])
    assert run.exit_code != 0 and "'region'" in run.output and "keep" in run.output
    listed = CliRunner().invoke(cli.app, ["batch", "list", "-o", "json"])
    assert listed.exit_code == 0 and isinstance(json.loads(listed.stdout), list)
    roots = CliRunner().invoke(cli.app, ["batch", "roots", "-o", "json"])
    assert roots.exit_code == 0 and json.loads(roots.stdout) == {"alpha": [str(area.parent)]}
