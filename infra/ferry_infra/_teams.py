"""Teams as data: one ``teams/<name>.yaml`` per team, validated against a schema.

A file is the whole onboarding request: who the members are, what the team may use (quotas, GPUs)
and who pays. The program turns each file into a Kubernetes namespace with its quota and access,
an IAM role scoped to the team's S3 prefix, and a Feast project.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._errors import TeamFileError, describe

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[a-z]{2,}$", re.IGNORECASE)
RESERVED = frozenset(
    {
        "default",
        "ferry",
        "ferry-system",
        "kuberay-system",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "platform",
    }
)


class TeamQuotas(BaseModel):
    """What the team's namespace may request in total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: float = Field(gt=0, le=512, description="CPU cores requested across the namespace")
    memory_gib: int = Field(gt=0, le=4096, description="memory requested across the namespace, GiB")
    gpus: int = Field(default=0, ge=0, le=64, description="NVIDIA GPUs requested across the namespace")
    pods: int = Field(default=100, gt=0, le=5000, description="pods in the namespace")


class TeamSpec(BaseModel):
    """One team's onboarding file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="DNS label: lowercase letters, digits and '-', 3-32 chars")
    members: list[str] = Field(min_length=1, description="members' e-mail addresses (Kubernetes users)")
    cost_centre: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$",
        description="billing code (a Kubernetes label value); the stack's when absent",
    )
    gpu: bool = Field(default=False, description="whether the team may schedule onto the GPU nodes")
    quotas: TeamQuotas

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", v):
            raise ValueError(
                "must be 3-32 lowercase letters, digits or '-', starting with a letter, "
                "e.g. 'fraud' or 'search-ranking'"
            )
        if v in RESERVED:
            raise ValueError(f"is reserved for the platform; reserved names: {sorted(RESERVED)}")
        return v

    @field_validator("members")
    @classmethod
    def _members(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if not _EMAIL.match(m)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        dup = sorted({m for m in v if v.count(m) > 1})
        if dup:
            raise ValueError(f"listed twice: {dup}")
        return v

    @model_validator(mode="after")
    def _gpu(self) -> TeamSpec:
        if self.quotas.gpus and not self.gpu:
            raise ValueError(f"quotas.gpus is {self.quotas.gpus} but gpu is false; set gpu: true or gpus: 0")
        return self

    @property
    def namespace(self) -> str:
        return f"team-{self.name}"

    def to_yaml(self) -> str:
        body = self.model_dump(exclude_none=True)
        return (
            "# Onboarding file of team "
            + self.name
            + "; schema: docs/infrastructure.md#teams\n"
            + yaml.safe_dump(body, sort_keys=False)
        )


def parse_team(path: Path) -> TeamSpec:
    """One team file, or a TeamFileError listing every rule it breaks."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise TeamFileError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise TeamFileError(
            f"{path}: expected a mapping with name, members and quotas, got {type(doc).__name__}"
        )
    try:
        spec = TeamSpec.model_validate(doc)
    except ValidationError as e:
        raise TeamFileError(
            f"{path} breaks the team schema:\n  "
            + "\n  ".join(describe(e))
            + "\nSee docs/infrastructure.md#teams for the schema."
        ) from None
    if spec.name != path.stem:
        raise TeamFileError(
            f"{path}: name {spec.name!r} must match the file name; rename the file "
            f"to {spec.name}.yaml or set name: {path.stem}"
        )
    return spec


def load_teams(directory: Path) -> list[TeamSpec]:
    """Every team file under ``directory``, sorted by name; all files' problems reported at once."""
    if not directory.is_dir():
        return []
    teams, problems = [], []
    for path in sorted(directory.glob("*.y*ml")):
        try:
            teams.append(parse_team(path))
        except TeamFileError as e:
            problems.append(str(e))
    if problems:
        raise TeamFileError("\n".join(problems))
    return teams


def write_team(directory: Path, spec: TeamSpec) -> Path:
    """Write ``<directory>/<name>.yaml``; refuses to overwrite (edit the file instead)."""
    path = directory / f"{spec.name}.yaml"
    if path.exists():
        raise TeamFileError(
            f"{path} already exists; edit it (and review `ferry infra preview`) "
            "instead of adding the team again"
        )
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(spec.to_yaml())
    return path
