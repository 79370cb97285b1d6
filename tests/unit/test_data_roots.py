"""A team's batch data roots: templates with {team}, local or s3://, and what lies under them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry_contract import Forbidden, InvalidRequest
from ferry_platform.releases import DataRoots


def test_roots_are_per_team_and_need_the_team_in_them(tmp_path: Path) -> None:
    roots = DataRoots([f"{tmp_path}/{{team}}", "s3://data/teams/{team}/batch/"])
    assert roots.of("risk") == [str(tmp_path / "risk"), "s3://data/teams/risk/batch/"]
    for bad in (["/data/shared"], ["gs://b/{team}"], [" ", ""]):
        with pytest.raises(ValueError):
            DataRoots(bad)


@pytest.mark.parametrize("value, resolved", [
    ("s3://data/teams/risk/batch/in/*.parquet", "s3://data/teams/risk/batch/in/*.parquet"),
    ("s3://data/teams/risk/batch", "s3://data/teams/risk/batch"),
    ("in/*.csv", "{local}/in/*.csv"),  # relative: under the first root
    ("{local}/a/../b", "{local}/b"),
    ("file://{local}/x", "{local}/x"),
])
def test_locations_under_a_root_are_kept_resolved(tmp_path: Path, value: str,
                                                  resolved: str) -> None:
    local = str(tmp_path / "risk")
    roots = DataRoots([f"{tmp_path}/{{team}}", "s3://data/teams/{team}/batch/"])
    assert roots.confine("risk", value.format(local=local), "source") == resolved.format(
        local=local)


@pytest.mark.parametrize("value", [
    "s3://data/teams/risk/batchX/in", "s3://data/teams/other/batch/in", "s3://elsewhere/x",
    "{tmp}/other/x", "{tmp}/risk/../other", "{tmp}/riskier/x", "/etc/passwd", "../x",
    "in/../../other", "{tmp}/risk-link/x",
])
def test_locations_outside_are_forbidden_naming_the_roots(tmp_path: Path, value: str) -> None:
    (tmp_path / "risk").mkdir()
    (tmp_path / "risk-link").symlink_to(tmp_path / "other", target_is_directory=True)
    roots = DataRoots([f"{tmp_path}/{{team}}", "s3://data/teams/{team}/batch/"])
    with pytest.raises(Forbidden, match="outside team 'risk'") as e:
        roots.confine("risk", value.format(tmp=tmp_path), "dest")
    assert str(tmp_path / "risk") in str(e.value)


def test_a_link_inside_a_root_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "risk").mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (tmp_path / "risk" / "ok.csv").write_text("a\n1\n")
    (tmp_path / "risk" / "link.csv").symlink_to(tmp_path / "secret.csv")
    roots = DataRoots([f"{tmp_path}/{{team}}"])
    roots.check_files("risk", [str(tmp_path / "risk" / "ok.csv")], "source")
    with pytest.raises(Forbidden, match="'link.csv'"):
        roots.check_files("risk", [str(tmp_path / "risk" / "link.csv")], "source")


@pytest.mark.parametrize("value", ["s3://data/teams/risk/batch/../../other/x",
                                   "s3://data//teams/risk/batch/x", "ftp://h/x", "a\x00b", ""])
def test_what_is_no_location_is_a_400(tmp_path: Path, value: str) -> None:
    roots = DataRoots([f"{tmp_path}/{{team}}", "s3://data/teams/{team}/batch/"])
    with pytest.raises(InvalidRequest):
        roots.confine("risk", value, "source")
