"""Predictions need a token, checked by the deployment's router on a real Ray Serve: none,
another team's, a revoked one and a disabled user's are refused on REST and gRPC; a
predict-only token predicts and does nothing else; anonymous predictions only where a team
admin allowed them, shown in status and audited."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import httpx
import pytest
from _grpc import raw_predict
from _models import FEATURES, sklearn_pipeline, training_frame

import ferry

pytestmark = pytest.mark.ray

NAME = "e2e-tokens"


@pytest.fixture(scope="module")
def served(client):  # type: ignore[no-untyped-def]
    mv = client.register(sklearn_pipeline(c=0.5), name=NAME, training_data=training_frame(),
                         target="churned")
    dep = client.deploy(NAME, version=mv.version, replicas=1)
    yield dep
    client.undeploy(NAME)


@pytest.fixture(scope="module")
def people(client, as_user):  # type: ignore[no-untyped-def]
    """A member of the deployment's team, one of another team, each with a token."""
    client.create_team("tokens-other")
    for user, team, role in (("tok-member", "default", "viewer"),
                             ("tok-stranger", "tokens-other", "admin"),
                             ("tok-deployer", "default", "deployer")):
        client.create_user(user)
        client.set_member(team, user, role)
    return {u: client.create_token(user=u).token
            for u in ("tok-member", "tok-stranger", "tok-deployer")}


def row() -> dict:  # type: ignore[type-arg]
    return training_frame(21)[FEATURES].iloc[0].to_dict()


def rest(served, token: str | None) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{served.info.endpoints.rest}/predict", json={"inputs": [row()]},
                      headers=headers, timeout=30)


def grpc_code(served, token: str | None) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        raw_predict(served.info.endpoints.grpc, NAME, {k: [v] for k, v in row().items()}, token)
    except grpc.RpcError as e:
        return e.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` holds (fails the test past ``seconds``)."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < seconds, f"not within {seconds}s"
        time.sleep(0.1)
    return time.monotonic() - t0


def test_a_prediction_without_a_token_is_refused_on_both_protocols(served) -> None:  # type: ignore[no-untyped-def]
    r = rest(served, None)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert "Authorization: Bearer" in r.json()["error"]["message"]
    assert httpx.get(f"{served.info.endpoints.rest}/metadata").status_code == 401
    assert grpc_code(served, None) == grpc.StatusCode.UNAUTHENTICATED
    assert rest(served, "fy_not-a-token").status_code == 401
    assert grpc_code(served, "fy_not-a-token") == grpc.StatusCode.UNAUTHENTICATED


def test_members_predict_and_another_teams_token_cannot(served, people, as_user) -> None:  # type: ignore[no-untyped-def]
    until(lambda: rest(served, people["tok-member"]).status_code == 200, 5.0)  # new: pushed
    assert grpc_code(served, people["tok-member"]) == grpc.StatusCode.OK
    assert rest(served, people["tok-stranger"]).status_code == 401
    assert grpc_code(served, people["tok-stranger"]) == grpc.StatusCode.UNAUTHENTICATED
    # the SDK sends its own token: the member's client predicts, the stranger's is refused
    got = as_user(people["tok-member"]).deployment(NAME).predict([row()])
    assert got.release_id == served.release_id
    with pytest.raises(ferry.Unauthenticated):
        as_user(people["tok-stranger"]).deployment(NAME).predict([row()], protocol="grpc")


def test_a_predict_only_token_predicts_and_does_nothing_else(served, people, as_user) -> None:  # type: ignore[no-untyped-def]
    member = as_user(people["tok-deployer"])
    service = as_user(member.create_token(scope="predict", description="scorer").token)
    assert service.whoami().scope == "predict"
    dep = service.deployment(NAME)
    # Effective on every router replica once create_token returns (Serve reconfigures them
    # one at a time; a request meeting a stale one was refused): every call answers.
    for _ in range(10):
        assert dep.predict([row()]).release_id == served.release_id
        assert dep.predict([row()], protocol="grpc").release_id == served.release_id
    for refused in (service.models, service.deployments, lambda: service.undeploy(NAME),
                    lambda: service.create_token(), lambda: service.audit()):
        with pytest.raises(ferry.Forbidden, match="may only predict"):
            refused()


def test_a_revoked_token_stops_predicting_within_5_seconds(served, client, people) -> None:  # type: ignore[no-untyped-def]
    issued = client.create_token(user="tok-member")
    secret = issued.token
    until(lambda: rest(served, secret).status_code == 200, 5.0)
    t0 = time.monotonic()  # the clock runs from the request, the push included
    client.revoke_token(issued.id)
    until(lambda: rest(served, secret).status_code == 401, 5.0 - (time.monotonic() - t0))
    assert time.monotonic() - t0 < 5.0
    assert grpc_code(served, secret) == grpc.StatusCode.UNAUTHENTICATED


def test_a_disabled_user_stops_predicting_within_5_seconds(served, client) -> None:  # type: ignore[no-untyped-def]
    client.create_user("tok-leaver")
    client.set_member("default", "tok-leaver", "viewer")
    secret = client.create_token(user="tok-leaver").token
    until(lambda: rest(served, secret).status_code == 200, 5.0)
    t0 = time.monotonic()
    client.update_user("tok-leaver", disabled=True)
    until(lambda: rest(served, secret).status_code == 401, 5.0 - (time.monotonic() - t0))
    client.update_user("tok-leaver", disabled=False)
    until(lambda: rest(served, secret).status_code == 200, 5.0)


def test_anonymous_predictions_only_where_a_team_admin_allowed_them(  # type: ignore[no-untyped-def]
        served, client, people, as_user) -> None:
    with pytest.raises(ferry.Forbidden, match="admin role in team 'default'"):
        as_user(people["tok-deployer"]).set_anonymous_predict(NAME, True)
    assert rest(served, None).status_code == 401
    opened = client.set_anonymous_predict(NAME, True)
    assert opened.anonymous_predict and client.status(NAME).anonymous_predict
    until(lambda: rest(served, None).status_code == 200, 5.0)
    assert grpc_code(served, None) == grpc.StatusCode.OK
    [event] = [e for e in client.audit(resource=f"deployment/{NAME}", action="access")
               if e.outcome == "succeeded"][:1]
    assert event.details["anonymous_predict"] is True
    client.set_anonymous_predict(NAME, False)
    until(lambda: rest(served, None).status_code == 401, 5.0)
