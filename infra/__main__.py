"""Ferry's Pulumi program: read the stack's config, team files and secrets, build, export.
Run it with `pulumi preview` / `pulumi up` from this directory (docs/infrastructure.md)."""

from pathlib import Path

import pulumi

from ferry_infra import Secrets, StackConfig, build, load_teams

config = StackConfig.from_pulumi()
teams = load_teams(Path(__file__).parent / "teams")
ferry = pulumi.Config("ferry")
secrets = Secrets(
    db_password=ferry.require_secret("dbPassword"), redis_auth_token=ferry.require_secret("redisAuthToken")
)
for name, value in build(config, teams, secrets).items():
    pulumi.export(name, value)
