"""Teams as data: each file under teams/ becomes a namespace with its quota and members, an IAM
role limited to the team's prefix, and a Feast project; the schema refuses bad files with every
problem named; the GPU node group exists only when the stack's config asks for it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml
from _infra import dev_config, override

import ferry_infra
from ferry_infra import (
    Simulation,
    StackConfigError,
    TeamFileError,
    TeamQuotas,
    TeamSpec,
    diff,
    load_teams,
    simulate,
    write_team,
)
from ferry_infra._policies import _taggable


def _teams(seed: int, n: int) -> list[TeamSpec]:
    """A hidden generator of plausible teams (names, members, quotas, GPU use)."""
    rng = random.Random(seed)
    words = ["fraud", "search", "risk", "ads", "vision", "churn", "pricing", "supply", "growth"]
    names = rng.sample(words, n)
    out = []
    for i, name in enumerate(names):
        gpu = rng.random() < 0.4
        out.append(
            TeamSpec(
                name=f"{name}-{i}" if rng.random() < 0.5 else name,
                members=[f"user{rng.randrange(10_000)}@example.com" for _ in range(rng.randint(1, 4))],
                cost_centre=f"CC-{rng.randrange(1000, 9999)}" if rng.random() < 0.7 else None,
                gpu=gpu,
                quotas=TeamQuotas(
                    cpu=rng.choice([4, 8.5, 16, 64]),
                    memory_gib=rng.choice([16, 64, 256]),
                    gpus=rng.randint(1, 8) if gpu else 0,
                    pods=rng.choice([20, 100, 500]),
                ),
            )
        )
    return out


def team_problems(sim: Simulation, specs: list[TeamSpec], stack_cost_centre: str) -> list[str]:
    """Where the simulated stack disagrees with the team files."""
    problems = []
    k8s_objs = [r for r in sim.resources if r.type.startswith("kubernetes:")]
    namespaces = {r.inputs["metadata"]["name"] for r in sim.of_type("kubernetes:core/v1:Namespace")}
    team_ns = {n for n in namespaces if n.startswith("team-")}
    if team_ns != {s.namespace for s in specs}:
        problems.append(f"team namespaces {sorted(team_ns)} != files {sorted(s.namespace for s in specs)}")
    policies = {p.name: json.loads(p.inputs["policy"]) for p in sim.of_type("aws:iam/rolePolicy:RolePolicy")}
    for spec in specs:

        def in_ns(type_: str, spec: TeamSpec = spec) -> list[dict]:
            return [
                r.inputs
                for r in k8s_objs
                if r.type == type_ and r.inputs["metadata"].get("namespace") == spec.namespace
            ]

        quotas = in_ns("kubernetes:core/v1:ResourceQuota")
        hard = quotas[0]["spec"]["hard"] if quotas else {}
        want = {
            "requests.cpu": str(spec.quotas.cpu),
            "requests.memory": f"{spec.quotas.memory_gib}Gi",
            "pods": str(spec.quotas.pods),
            "requests.nvidia.com/gpu": str(spec.quotas.gpus),
        }
        if {k: hard.get(k) for k in want} != want:
            problems.append(f"{spec.name}: quota {hard} != {want}")
        bindings = in_ns("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
        members = sorted(s["name"] for b in bindings for s in b.get("subjects") or [])
        if members != sorted(spec.members):
            problems.append(f"{spec.name}: members {members} != {sorted(spec.members)}")
        objects = [
            r
            for s in policies.get(f"team-{spec.name}", {}).get("Statement", [])
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            if r.startswith("arn:aws:s3:::") and "/" in r
        ]
        if not objects or any(f"/teams/{spec.name}/" not in r for r in objects):
            problems.append(f"{spec.name}: role reaches {objects}, want only teams/{spec.name}/")
        sas = in_ns("kubernetes:core/v1:ServiceAccount")
        if not any("eks.amazonaws.com/role-arn" in (sa["metadata"].get("annotations") or {}) for sa in sas):
            problems.append(f"{spec.name}: no service account bound to the team's role")
        cms = in_ns("kubernetes:core/v1:ConfigMap")
        store = yaml.safe_load(cms[0]["data"]["feature_store.yaml"]) if cms else {}
        if store.get("project") != spec.name.replace("-", "_"):
            problems.append(f"{spec.name}: Feast project {store.get('project')!r}")
        if f"/teams/{spec.name}/" not in str(store.get("registry")):
            problems.append(
                f"{spec.name}: Feast registry {store.get('registry')!r} outside the team's prefix"
            )
        serve = [
            r.inputs
            for r in sim.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            if r.inputs["metadata"].get("namespace") == "ferry-system"
            and any(
                f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == spec.namespace
                for rule in r.inputs["spec"].get("ingress") or []
                for f in rule.get("from") or []
            )
        ]
        ports = [
            sorted(q["port"] for rule in p["spec"]["ingress"] for q in rule.get("ports") or []) for p in serve
        ]
        if ports != [[8000, 9000]] or serve[0]["spec"]["podSelector"] != {
            "matchLabels": {"ray.io/cluster": "ferry-ray"}
        }:
            problems.append(
                f"{spec.name}: Serve policies for {spec.namespace} admit {ports}, want one: [8000, 9000]"
            )
        [ns] = [
            r.inputs
            for r in sim.of_type("kubernetes:core/v1:Namespace")
            if r.inputs["metadata"]["name"] == spec.namespace
        ]
        if ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") != "baseline":
            problems.append(f"{spec.name}: namespace does not enforce Pod Security baseline")
        secrets = in_ns("kubernetes:core/v1:Secret")
        if not any("FERRY_FEATURE_REDIS" in json.dumps(s.get("stringData"), default=str) for s in secrets):
            problems.append(f"{spec.name}: no Secret with the online store's connection")
        tags = {
            r.inputs.get("tags", {}).get("cost-centre")
            for r in sim.resources
            if r.name.startswith(f"team-{spec.name}") and _taggable(r.type)
        }
        if tags != {spec.cost_centre or stack_cost_centre}:
            problems.append(f"{spec.name}: cost centre tags {tags}")
    return problems


def _gpu_config():  # type: ignore[no-untyped-def]
    return dev_config(gpuNodes={"enabled": True, "maxSize": 2})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_team_resources_follow_the_files(seed: int, tmp_path: Path) -> None:
    specs = _teams(seed, n=3)
    for spec in specs:
        write_team(tmp_path, spec)
    loaded = load_teams(tmp_path)
    assert loaded == sorted(specs, key=lambda s: s.name)
    config = _gpu_config()
    sim = simulate(config, loaded)
    assert team_problems(sim, loaded, config.cost_centre) == []
    assert sorted(sim.outputs["teams"]) == sorted(s.name for s in specs)


def _skip_last_file(mp: pytest.MonkeyPatch) -> None:
    real = ferry_infra._program.Team
    seen: list[str] = []

    def team(name, args, opts=None):  # type: ignore[no-untyped-def]
        seen.append(name)
        return real(name if len(seen) < 3 else name + "-x", args, opts)  # a third team namespaced wrongly

    mp.setattr(ferry_infra._program, "Team", team)


def _serve_policy_for(namespace: str):  # type: ignore[no-untyped-def]
    """Every team's Serve policy names ``namespace`` instead of the team's own."""

    def apply(mp: pytest.MonkeyPatch) -> None:
        real = ferry_infra._team.serve_access_policy
        mp.setattr(
            ferry_infra._team,
            "serve_access_policy",
            lambda name, *, client_namespace, **kw: real(name, client_namespace=namespace, **kw),
        )

    return apply


BROKEN_TEAM_PROGRAMS = {
    "quota-hard-coded": lambda mp: override(
        mp, k8s.core.v1, "ResourceQuota", spec={"hard": {"requests.cpu": "8", "pods": "100"}}
    ),
    "members-left-out": lambda mp: override(mp, k8s.rbac.v1, "RoleBinding", subjects=[]),
    "role-on-shared-prefix": lambda mp: override(
        mp,
        aws.iam,
        "RolePolicy",
        policy=lambda p: pulumi.Output.from_input(p).apply(lambda s: s.replace("/teams/", "/shared/")),
    ),
    "feast-project-fixed": lambda mp: override(
        mp, k8s.core.v1, "ConfigMap", data=lambda d: {**d, "feature_store.yaml": "project: ferry\n"}
    ),
    "serve-policy-for-one-namespace": _serve_policy_for("team-shared"),
    "serve-policy-left-out": lambda mp: mp.setattr(
        ferry_infra._team, "serve_access_policy", lambda *a, **k: None
    ),
}


@pytest.mark.parametrize("broken", BROKEN_TEAM_PROGRAMS)
def test_team_check_fails_on_a_broken_program(broken: str, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = _teams(7, n=3)
    BROKEN_TEAM_PROGRAMS[broken](monkeypatch)
    config = _gpu_config()
    assert team_problems(simulate(config, specs), specs, config.cost_centre)


def test_adding_a_team_only_adds_that_teams_resources() -> None:
    specs = _teams(11, n=3)
    config = _gpu_config()
    before, after = simulate(config, specs[:2]), simulate(config, specs)
    changes = diff(before, after)
    new = specs[2].name
    assert changes and all(c.op == "+" for c in changes), [c for c in changes if c.op != "+"]
    assert all(c.name.startswith(f"team-{new}") for c in changes), changes
    types = {c.type for c in changes}
    assert {
        "ferry:infra:Team",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ResourceQuota",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "kubernetes:core/v1:ConfigMap",
    } <= types
    assert diff(after, before) == [c.__class__("-", c.type, c.name) for c in changes]


@pytest.mark.parametrize("enabled", [False, True])
def test_gpu_node_group_only_when_configured(enabled: bool) -> None:
    config = dev_config(gpuNodes={"enabled": enabled})
    sim = simulate(config, [])
    assert gpu_problems(sim, enabled) == []


def gpu_problems(sim: Simulation, enabled: bool) -> list[str]:
    groups = sim.of_type("aws:eks/nodeGroup:NodeGroup")
    gpu = [g for g in groups if g.inputs.get("amiType", "").endswith("NVIDIA")]
    problems = []
    if bool(gpu) != enabled:
        problems.append(f"GPU node groups {[g.name for g in gpu]} with gpuNodes.enabled={enabled}")
    if gpu and not all(
        g.inputs.get("taints") and all(t.get("key") == "nvidia.com/gpu" for t in g.inputs["taints"])
        for g in gpu
    ):
        problems.append("GPU nodes must be tainted so only GPU work lands there")
    [ray] = sim.of_type("kubernetes:ray.io/v1:RayCluster")
    worker_groups = {w["groupName"] for w in ray.inputs["spec"]["workerGroupSpecs"]}
    if ("gpu" in worker_groups) != enabled:
        problems.append(f"Ray worker groups {worker_groups} with gpuNodes.enabled={enabled}")
    if not [g for g in groups if g.inputs.get("amiType") == "AL2023_x86_64_STANDARD"]:
        problems.append("no CPU node group")
    return problems


def test_gpu_check_fails_when_the_program_ignores_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ferry_infra._program.ClusterArgs
    monkeypatch.setattr(
        ferry_infra._program,
        "ClusterArgs",
        lambda **kw: real(**{**kw, "gpu_nodes": kw["gpu_nodes"].model_copy(update={"enabled": True})}),
    )
    assert gpu_problems(simulate(dev_config(gpuNodes={"enabled": False}), []), enabled=False)


def test_a_gpu_team_on_a_stack_without_gpus_is_refused_by_name() -> None:
    gpu_team = TeamSpec(
        name="vision", members=["a@example.com"], gpu=True, quotas=TeamQuotas(cpu=4, memory_gib=16, gpus=1)
    )
    with pytest.raises(StackConfigError) as e:
        simulate(dev_config(gpuNodes={"enabled": False}), [gpu_team])
    assert "vision" in str(e.value) and "ferry:gpuNodes.enabled" in str(e.value)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (
            {"name": "Fraud!", "members": ["a@example.com"], "quotas": {"cpu": 1, "memory_gib": 1}},
            ["name:", "'Fraud!'", "lowercase"],
        ),
        (
            {"name": "fraud", "members": ["not-an-email"], "quotas": {"cpu": 1, "memory_gib": 1}},
            ["members:", "not-an-email"],
        ),
        (
            {"name": "fraud", "members": ["a@example.com"], "quotas": {"cpu": -2, "memory_gib": 1}},
            ["quotas.cpu", "-2", "greater than 0"],
        ),
        (
            {"name": "fraud", "members": ["a@example.com"], "quotas": {"cpu": 1, "memory_gib": 1, "gpus": 2}},
            ["gpus is 2 but gpu is false"],
        ),
        (
            {"name": "kube-system", "members": ["a@example.com"], "quotas": {"cpu": 1, "memory_gib": 1}},
            ["reserved"],
        ),
        (
            {"name": "fraud", "members": ["a@example.com"], "quota": {"cpu": 1}},
            ["quotas: Field required", "quota: Extra inputs"],
        ),
    ],
)
def test_bad_team_files_are_refused_with_every_problem_named(
    doc: dict, says: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "fraud.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(TeamFileError) as e:
        load_teams(tmp_path)
    assert str(path) in str(e.value)
    for text in says:
        assert text in str(e.value)


def test_file_name_must_match_the_team(tmp_path: Path) -> None:
    (tmp_path / "risk.yaml").write_text(
        yaml.safe_dump({"name": "fraud", "members": ["a@example.com"], "quotas": {"cpu": 1, "memory_gib": 1}})
    )
    with pytest.raises(TeamFileError, match="must match the file name"):
        load_teams(tmp_path)


def test_repository_team_files_are_valid() -> None:
    from _infra import INFRA

    names = [t.name for t in load_teams(INFRA / "teams")]
    assert names == sorted(p.stem for p in (INFRA / "teams").glob("*.yaml")) and names


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"cpuNodes": {"instanceTypes": ["m7i.large"], "minSize": 3, "desiredSize": 2, "maxSize": 4}},
            "minSize <= desiredSize <= maxSize",
        ),
        ({"apiPublicCidrs": ["0.0.0.0/0"]}, "must not be open to 0.0.0.0/0"),
        (
            {"serveClientCidrs": ["0.0.0.0/0"]},
            "ferry:serveClientCidrs: Value error, 0.0.0.0/0 would open Serve",
        ),
        ({"serveClientCidrs": ["10.40.128.0/20"]}, "10.40.128.0/20 overlaps ferry:vpcCidr 10.40.0.0/16"),
        (
            {"serveClientCidrs": ["10.8.0.1/16"]},
            "'10.8.0.1/16' is not a CIDR (10.8.0.1/16 has host bits set)",
        ),
        ({"serveClientCidrs": ["fd00::/8"]}, "fd00::/8 is not IPv4"),
        ({"vpcCidr": "10.0.0.0/24"}, "/16 to /20"),
        ({"availabilityZones": ["us-east-1a", "us-east-1b"]}, "not in region eu-west-1"),
        ({"databse": {"multiAz": True}}, "ferry:databse: Extra inputs are not permitted"),
    ],
)
def test_bad_stack_config_is_refused_naming_the_key(change: dict, says: str) -> None:
    with pytest.raises(StackConfigError) as e:
        dev_config(**change)
    assert says in str(e.value) and "Pulumi.dev.yaml" in str(e.value)


@pytest.mark.parametrize("token", ["short", "has,a-comma-in-the-middle"])
def test_a_redis_token_feast_cannot_carry_is_refused(token: str) -> None:
    import pulumi

    from ferry_infra import Secrets

    secrets = Secrets(
        db_password=pulumi.Output.secret("x" * 20), redis_auth_token=pulumi.Output.secret(token)
    )
    with pytest.raises(StackConfigError, match="ferry:redisAuthToken must be 16-128"):
        simulate(dev_config(), [], secrets=secrets)
