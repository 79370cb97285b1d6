"""Network: a VPC whose private subnets hold the nodes and data stores; public subnets hold only
load balancers and NAT gateways."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def client_only_security_group(
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    port: int,
    client_security_group_id: pulumi.Input[str],
    description: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A data store's security group: ``port`` from the clients' security group, nothing else."""
    return aws.ec2.SecurityGroup(
        name,
        vpc_id=vpc_id,
        description=description,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=port, to_port=port, security_groups=[client_security_group_id]
            )
        ],
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass
class NetworkArgs:
    name: str
    cidr: str
    availability_zones: list[str]
    cluster_name: str
    high_availability_nat: bool
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        zones = args.availability_zones
        net = ipaddress.ip_network(args.cidr)
        blocks = list(net.subnets(new_prefix=net.prefixlen + 3))  # 8 blocks: private first, public last
        private_cidrs, public_cidrs = blocks[: len(zones)], blocks[-len(zones) :]
        shared = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            tags={**tags, "Name": f"{name}-public"},
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=child,
        )
        public, private, nats = [], [], []
        for i, (zone, cidr) in enumerate(zip(zones, public_cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    **tags,
                    **shared,
                    "Name": f"{name}-public-{zone}",
                    "ferry:tier": "public",
                    "kubernetes.io/role/elb": "1",
                },
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
            )
            public.append(subnet)
            if i == 0 or args.high_availability_nat:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags, opts=child)
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone}",
                        subnet_id=subnet.id,
                        allocation_id=eip.id,
                        tags=tags,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
        for i, (zone, cidr) in enumerate(zip(zones, private_cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    **tags,
                    **shared,
                    "Name": f"{name}-private-{zone}",
                    "ferry:tier": "private",
                    "kubernetes.io/role/internal-elb": "1",
                },
                opts=child,
            )
            nat = nats[i] if args.high_availability_nat else nats[0]
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                tags={**tags, "Name": f"{name}-private-{zone}"},
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id, opts=child
            )
            private.append(subnet)

        self.vpc_id = vpc.id
        self.vpc_cidr = args.cidr
        self.private_subnet_ids = [s.id for s in private]
        self.public_subnet_ids = [s.id for s in public]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )
