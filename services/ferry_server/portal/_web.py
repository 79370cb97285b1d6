"""What every portal page and action shares: the session cookie and who it stands for,
the CSRF check, rendering (whole pages, or htmx fragments), errors as HTML, and the
security headers.

A session's secret lives only in its cookie (HttpOnly, SameSite=Strict, Secure over TLS,
path /portal); the database keeps its SHA-256. The CSRF token is derived from the secret
(so it needs no storage and means nothing without the cookie) and must come back with
every state-changing request, as the form field ``csrf`` or the ``X-CSRF-Token`` header
htmx sends.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from ferry_contract import FerryError, Forbidden, InvalidRequest
from ferry_platform import Platform
from ferry_platform.access import Principal
from ferry_platform.application import Application
from ferry_platform.core import REDACTOR
from ferry_server.portal._assets import HERE, Assets

PORTAL_PREFIX = "/portal"
SESSION_COOKIE = "ferry_session"
SIGN_IN_COOKIE = "ferry_sign_in"  # the sign-in form's CSRF (there is no session yet)
CSRF_HEADER = "x-csrf-token"
PAGE_SIZE = 50
"""Rows per page of every list (keyset pages: as fast on the 200th page as on the first)."""

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # a sign-in link's secret never leaves in a Referer
    "cross-origin-opener-policy": "same-origin",
}

router = APIRouter(prefix=PORTAL_PREFIX, include_in_schema=False)

TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True),
                        trim_blocks=True, lstrip_blocks=True)


def _when(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


TEMPLATES.filters["when"] = _when
TEMPLATES.filters["num"] = _number
TEMPLATES.filters["urlpart"] = lambda v: quote(str(v), safe="")


def platform_of(request: Request) -> Platform:
    found: Platform = request.app.state.platform
    return found


def app_of(request: Request) -> Application:
    return platform_of(request).app


def csrf_for(secret: str) -> str:
    return hashlib.sha256(f"ferry-portal-csrf:{secret}".encode()).hexdigest()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def over_tls(request: Request) -> bool:
    """Served over TLS: directly, behind a proxy saying so, or at an https public URL."""
    return (request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https"
            or platform_of(request).settings.public_url.startswith("https://"))


def set_cookie(request: Request, response: Response, name: str, value: str, *,
               path: str = PORTAL_PREFIX, until: datetime | None = None) -> None:
    max_age = None
    if until is not None:
        max_age = max(0, int((until - datetime.now(UTC)).total_seconds()))
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        samesite="strict", secure=over_tls(request))


@dataclass(frozen=True)
class Caller:
    """The signed-in person: who (the token's rights), their session, its CSRF token."""

    who: Principal
    session: str
    csrf: str

    @property
    def user(self) -> str:
        return self.who.user


def caller(request: Request) -> Caller:
    """The session's caller; 401 (a redirect to the sign-in page) without a live one."""
    secret = request.cookies.get(SESSION_COOKIE)
    who = app_of(request).identity.portal_caller(secret)
    assert secret is not None
    return Caller(who, secret, csrf_for(secret))


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (its ``csrf`` kept aside for :func:`checked`)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    request.state.form_csrf = fields.pop("csrf", None)
    return fields


FormDep = Annotated[dict[str, str], Depends(read_form)]


def checked(request: Request, found: Annotated[Caller, Depends(caller)],
            _form: FormDep) -> Caller:
    """The caller of a state-changing request, whose CSRF token came back (form field
    ``csrf`` or header ``X-CSRF-Token``): 403 otherwise, before anything happens."""
    sent = request.headers.get(CSRF_HEADER) or request.state.form_csrf
    if not sent or not hmac.compare_digest(str(sent), found.csrf):
        raise Forbidden("the form's CSRF token is missing or wrong (a stale page, or a "
                        "request from another site); reload the page and try again",
                        details={"csrf": "missing" if not sent else "mismatch"})
    return found


CallerDep = Annotated[Caller, Depends(caller)]
CheckedDep = Annotated[Caller, Depends(checked)]


def build(schema: type[BaseModel], /, **values: Any) -> Any:
    """``schema`` from form values, a 400 listing every problem (never a 500)."""
    try:
        return schema.model_validate(values)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'form'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in e.errors(include_url=False, include_input=False)[:10])
        raise InvalidRequest(f"the form is not valid: {problems}") from None


def integer(fields: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, not {raw[:40]!r}",
                             details={"field": name}) from None


def render(request: Request, template: str, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A template as a whole page, or (``fragment`` templates, or any for htmx) a part."""
    assets: Assets = request.app.state.portal_assets
    found: Caller | None = context.get("me")
    html = TEMPLATES.get_template(template).render(
        request=request, path=request.url.path, csrf=found.csrf if found else "",
        asset=lambda name: f"{PORTAL_PREFIX}/{name}?v={assets.version(name)}",
        page_size=PAGE_SIZE, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, err: FerryError) -> Response:
    """A refusal or failure as HTML: the platform's own message (the role needed and how
    to get it, the failed gate check, ...) with its status; a 401 sends the person to sign
    in again (htmx: through HX-Redirect)."""
    if err.status == 401 and not request.url.path.startswith(f"{PORTAL_PREFIX}/sign-in"):
        target = f"{PORTAL_PREFIX}/sign-in?next={quote(request.url.path, safe='/')}"
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(target, status_code=303)
    body = REDACTOR.value(err.to_body())["error"]
    template = "_error.html" if is_htmx(request) else "error.html"
    me = None
    secret = request.cookies.get(SESSION_COOKIE)
    if template == "error.html" and secret:
        try:
            me = caller(request)
        except FerryError:
            me = None
    return render(request, template, status=err.status, error=body, me=me)
