"""Signing in and out: a token (typed into the form) or a one-time sign-in link is
exchanged for a session; signing out ends it on the server, not only in the browser."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse

from ferry_contract import Forbidden
from ferry_server.portal._web import (
    PORTAL_PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CheckedDep,
    FormDep,
    app_of,
    render,
    router,
    set_cookie,
)


def _next(value: str | None) -> str:
    """Where to go after signing in: a portal path only (never another site)."""
    if value and value.startswith(PORTAL_PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return f"{PORTAL_PREFIX}/models"


def _form_token(request: Request, response: Response) -> str:
    """The sign-in form's CSRF token (double submit: a SameSite=Strict cookie and the same
    value in the form), so another site cannot sign a browser in to its own account."""
    value = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    set_cookie(request, response, SIGN_IN_COOKIE, value, path=f"{PORTAL_PREFIX}/sign-in")
    return value


def _check_form_token(request: Request) -> None:
    sent, kept = request.state.form_csrf, request.cookies.get(SIGN_IN_COOKIE)
    if not sent or not kept or not hmac.compare_digest(str(sent), kept):
        raise Forbidden("the sign-in form's CSRF token is missing or wrong; reload the "
                        "sign-in page and try again", details={"csrf": "mismatch"})


def _signed_in(request: Request, secret: str, until: object, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, secret, until=until)  # type: ignore[arg-type]
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{PORTAL_PREFIX}/sign-in")
    return response


@router.get("/sign-in")
def sign_in_page(request: Request,
                 next: Annotated[str | None, Query(max_length=500)] = None) -> Response:  # noqa: A002
    response = Response()
    token = _form_token(request, response)
    page = render(request, "sign_in.html", sign_in_csrf=token, next=_next(next), me=None)
    page.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return page


@router.post("/sign-in")
def sign_in(request: Request, fields: FormDep) -> Response:
    """Exchange an API token for a session (401 for a token that is not valid, 403 for a
    predict-only one: both shown on the page with the platform's reason)."""
    _check_form_token(request)
    secret, until, _who = app_of(request).identity.sign_in(fields.get("token", "").strip())
    return _signed_in(request, secret, until, _next(fields.get("next")))


@router.get("/sign-in/link")
def sign_in_link_page(request: Request,
                      token: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Confirm a one-time link (using it takes a click: a link alone, opened by a preview
    or sent by someone else, never signs a browser in)."""
    who = app_of(request).identity.link_holder(token)
    response = Response()
    form_token = _form_token(request, response)
    page = render(request, "sign_in_link.html", link=token, holder=who.user,
                  sign_in_csrf=form_token, me=None)
    page.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return page


@router.post("/sign-in/link")
def sign_in_with_link(request: Request, fields: FormDep) -> Response:
    _check_form_token(request)
    secret, until, _who = app_of(request).identity.redeem_link(fields.get("token"))
    return _signed_in(request, secret, until, f"{PORTAL_PREFIX}/models")


@router.post("/sign-out")
def sign_out(request: Request, me: CheckedDep) -> Response:
    app_of(request).identity.sign_out(me.session, me.who)
    response: Response = RedirectResponse(f"{PORTAL_PREFIX}/sign-in", status_code=303)
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": f"{PORTAL_PREFIX}/sign-in"})
    response.delete_cookie(SESSION_COOKIE, path=PORTAL_PREFIX)
    return response
