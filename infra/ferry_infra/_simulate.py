"""Run the program under Pulumi's mocks (no CLI, no cloud): every resource it would declare, with
its inputs, and the stack's outputs. The tests check invariants on this; ``ferry infra preview``
and ``ferry infra team add`` show it, and diff two runs to show what a change implies.

The mocks answer the few values AWS would compute (ARNs, endpoints, the EKS OIDC issuer). Pass
``stand_ins`` to have the database and Redis endpoints point at local services, so the outputs
can drive a real platform (tests/infra/test_settings.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks as _mocks

from ._config import StackConfig
from ._program import Secrets, build
from ._teams import TeamSpec, load_teams

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class StandIns:
    """Where the mocked RDS and ElastiCache endpoints point (host, port)."""

    postgres: tuple[str, int] = ("ferry-db.mock.rds.amazonaws.com", 5432)
    redis: tuple[str, int] = ("ferry-online.mock.cache.amazonaws.com", 6379)


@dataclass(frozen=True)
class SimResource:
    type: str
    name: str
    inputs: dict[str, Any]
    id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


@dataclass
class Simulation:
    resources: list[SimResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[SimResource]:
        return [r for r in self.resources if r.type == type_]

    def by_id(self) -> dict[str, SimResource]:
        return {r.id: r for r in self.resources}


class _Mocks(_mocks.Mocks):
    def __init__(self, stand_ins: StandIns) -> None:
        self.stand_ins = stand_ins
        self.resources: list[SimResource] = []
        self._ids: set[str] = set()

    def new_resource(self, args: _mocks.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        rid = f"{args.typ.rsplit(':', 1)[1].lower()}-{args.name}"  # unique across types
        while rid in self._ids:  # and across parents (URNs differ, names may not)
            rid += "-2"
        self._ids.add(rid)
        typ = args.typ
        if typ == "aws:s3/bucket:Bucket":
            name = state.get("bucket") or f"{state.get('bucketPrefix', args.name)}mock"
            state.update(bucket=name, arn=f"arn:aws:s3:::{name}")
            rid = name
        elif typ == "aws:iam/role:Role":
            state.update(arn=f"arn:aws:iam::{ACCOUNT}:role/{args.name}", name=args.name)
        elif typ == "aws:kms/key:Key":
            state.update(arn=f"arn:aws:kms:mock:{ACCOUNT}:key/{args.name}", keyId=args.name)
        elif typ == "aws:eks/cluster:Cluster":
            vpc = dict(state.get("vpcConfig") or {})
            vpc["clusterSecurityGroupId"] = f"sg-{args.name}-cluster"
            state.update(
                vpcConfig=vpc,
                arn=f"arn:aws:eks:mock:{ACCOUNT}:cluster/{args.name}",
                endpoint=f"https://{args.name}.mock.eks.amazonaws.com",
                certificateAuthority={"data": "bW9jay1jYQ=="},
                identities=[
                    {"oidcs": [{"issuer": f"https://oidc.eks.mock.amazonaws.com/id/{args.name.upper()}"}]}
                ],
            )
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            state["arn"] = (
                f"arn:aws:iam::{ACCOUNT}:oidc-provider/{state.get('url', '').removeprefix('https://')}"
            )
        elif typ == "aws:rds/instance:Instance":
            host, port = self.stand_ins.postgres
            state.update(address=host, port=port, endpoint=f"{host}:{port}")
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            host, port = self.stand_ins.redis
            state.update(primaryEndpointAddress=host, port=port)
        elif typ in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
            state["name"] = args.name
        elif typ == "kubernetes:core/v1:Service":
            state["status"] = {
                "loadBalancer": {"ingress": [{"hostname": f"{args.name}.elb.mock.amazonaws.com"}]}
            }
        self.resources.append(SimResource(typ, args.name, dict(args.inputs), rid))
        return rid, state

    def call(self, args: _mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


def install_mocks(stack: str, stand_ins: StandIns | None = None) -> _Mocks:
    """Point Pulumi's runtime at fresh recording mocks (and a fresh root stack) for ``stack``."""
    mocks = _Mocks(stand_ins or StandIns())
    try:  # Pulumi makes its futures on this thread's loop; asyncio.run() leaves none set
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project="ferry", stack=stack, preview=False)
    return mocks


def simulate(
    config: StackConfig,
    teams: list[TeamSpec],
    *,
    stand_ins: StandIns | None = None,
    secrets: Secrets | None = None,
) -> Simulation:
    """Run :func:`build` under mocks; returns every declared resource and the resolved outputs."""
    mocks = install_mocks(config.stack, stand_ins)
    result: dict[str, Any] = {}
    secrets = secrets or Secrets(
        db_password=pulumi.Output.secret("mock-db-password"),
        redis_auth_token=pulumi.Output.secret("mock-redis-auth-token"),
    )

    secret: dict[str, bool] = {}

    def program() -> pulumi.Output:
        outputs = build(config, teams, secrets)
        flags: dict[str, pulumi.Output[bool]] = {
            k: pulumi.Output.from_input(o.is_secret()) for k, o in outputs.items()
        }
        return pulumi.Output.all(
            pulumi.Output.all(**outputs).apply(result.update), pulumi.Output.all(**flags).apply(secret.update)
        )

    _mocks.test(program)()
    return Simulation(
        resources=mocks.resources, outputs=result, secret_outputs={k for k, v in secret.items() if v}
    )


def simulate_stack(infra_dir: Path, stack: str, teams_dir: Path | None = None, **kw: Any) -> Simulation:
    """:func:`simulate` for ``infra_dir/Pulumi.<stack>.yaml`` and the team files in ``teams_dir``."""
    config = StackConfig.from_stack_file(infra_dir / f"Pulumi.{stack}.yaml")
    return simulate(config, load_teams(teams_dir or infra_dir / "teams"), **kw)


@dataclass(frozen=True)
class Change:
    op: str  # "+" created, "-" deleted, "~" inputs changed
    type: str
    name: str
    fields: tuple[str, ...] = ()


def diff(before: Simulation, after: Simulation) -> list[Change]:
    """Resources added, removed, or whose inputs changed between two runs."""
    old = {r.key: r for r in before.resources}
    new = {r.key: r for r in after.resources}
    changes = [Change("+", *k) for k in new if k not in old]
    changes += [Change("-", *k) for k in old if k not in new]
    for k in new.keys() & old.keys():
        a, b = old[k].inputs, new[k].inputs
        changed = tuple(
            sorted(
                f
                for f in a.keys() | b.keys()
                if json.dumps(a.get(f), sort_keys=True, default=str)
                != json.dumps(b.get(f), sort_keys=True, default=str)
            )
        )
        if changed:
            changes.append(Change("~", *k, fields=changed))
    return sorted(changes, key=lambda c: ("+-~".index(c.op), c.type, c.name))
