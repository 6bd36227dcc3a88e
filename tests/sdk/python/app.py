"""FastAPI app using the official supertokens-python SDK, pointed at the core under test.

Same routes as ../node/app.js. Env: ST_CONNECTION_URI, ST_API_KEY, PORT.
Run: python app.py  (uvicorn on 127.0.0.1:$PORT)
"""

import json
import os
import time
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlparse

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from supertokens_python import InputAppInfo, SupertokensConfig, init
from supertokens_python.asyncio import delete_user
from supertokens_python.framework.fastapi import get_middleware
from supertokens_python.ingredients.emaildelivery.types import (
    EmailDeliveryConfig,
    EmailDeliveryInterface,
)
from supertokens_python.recipe import (
    emailpassword,
    emailverification,
    session,
    usermetadata,
    userroles,
)
from supertokens_python.recipe.session import SessionContainer
from supertokens_python.recipe.session.framework.fastapi import verify_session
from supertokens_python.recipe.usermetadata.asyncio import (
    get_user_metadata,
    update_user_metadata,
)
from supertokens_python.recipe.userroles import PermissionClaim, UserRoleClaim
from supertokens_python.recipe.userroles.asyncio import (
    add_role_to_user,
    create_new_role_or_add_permissions,
    get_permissions_for_role,
    get_roles_for_user,
)
from supertokens_python.recipe.userroles.interfaces import UnknownRoleError
from supertokens_python.querier import Querier
from supertokens_python.constants import SUPPORTED_CDI_VERSIONS, VERSION as SDK_VERSION

# Account linking (user objects with loginMethods, recipe user ids, `rsub`) exists from
# supertokens-python 0.25 on; older releases have no SessionContainer.get_recipe_user_id.
HAS_ACCOUNT_LINKING = hasattr(SessionContainer, "get_recipe_user_id")

PORT = int(os.environ.get("PORT", "3002"))
CORE = os.environ.get("ST_CONNECTION_URI", "http://127.0.0.1:3567").rstrip("/")
API_KEY = os.environ.get("ST_API_KEY")

# Every request the SDK sends to the core, kept in a ring buffer so a failing flow can show the
# exact core exchanges (GET /test/core-calls). The SDK funnels all core calls through
# Querier.api_request (httpx); wrap it.
CORE_CALLS: List[Dict[str, Any]] = []
CORE_SEQ = 0
_real_api_request = Querier.api_request


async def _logged_api_request(self: Any, url: str, method: str, attempts_remaining: int, *args: Any, **kwargs: Any):
    global CORE_SEQ
    CORE_SEQ += 1
    path = url[len(CORE):] if url.startswith(CORE) else url
    params = kwargs.get("params")
    if params:
        path += "?" + str(httpx.QueryParams(params))  # as httpx will send them
    call: Dict[str, Any] = {"seq": CORE_SEQ, "method": method, "path": path}
    if kwargs.get("json") is not None:
        call["body"] = json.dumps(kwargs["json"])
    headers = kwargs.get("headers") or {}
    if headers.get("rid"):
        call["rid"] = headers["rid"]
    if headers.get("cdi-version"):
        call["cdiVersion"] = headers["cdi-version"]
    CORE_CALLS.append(call)
    del CORE_CALLS[:-500]
    started = time.time()
    try:
        res = await _real_api_request(self, url, method, attempts_remaining, *args, **kwargs)
        call["status"] = res.status_code
        call["response"] = res.text
        return res
    except Exception as e:
        call["error"] = repr(e)
        raise
    finally:
        call["ms"] = int((time.time() - started) * 1000)


Querier.api_request = _logged_api_request  # type: ignore[method-assign]

# Links "sent" by email, newest last, keyed by lower-cased email.
SENT_LINKS: Dict[str, List[Dict[str, Any]]] = {}


def capture_link(kind: str, email: str, link: str) -> None:
    SENT_LINKS.setdefault(email.lower(), []).append(
        {"kind": kind, "link": link, "at": time.time()}
    )


class CaptureResetEmail(EmailDeliveryInterface[emailpassword.EmailTemplateVars]):
    async def send_email(
        self, template_vars: emailpassword.EmailTemplateVars, user_context: Dict[str, Any]
    ) -> None:
        capture_link("reset", template_vars.user.email, template_vars.password_reset_link)


class CaptureVerifyEmail(
    EmailDeliveryInterface[emailverification.EmailTemplateVars]
):
    async def send_email(
        self,
        template_vars: emailverification.EmailTemplateVars,
        user_context: Dict[str, Any],
    ) -> None:
        capture_link("verify", template_vars.user.email, template_vars.email_verify_link)


init(
    app_info=InputAppInfo(
        app_name="st-sdk-tests",
        api_domain=f"http://localhost:{PORT}",
        website_domain="http://localhost:3000",
        api_base_path="/auth",
        website_base_path="/auth",
    ),
    supertokens_config=SupertokensConfig(connection_uri=CORE, api_key=API_KEY),
    framework="fastapi",
    recipe_list=[
        emailpassword.init(
            email_delivery=EmailDeliveryConfig(service=CaptureResetEmail())
        ),
        emailverification.init(
            mode="OPTIONAL",
            email_delivery=EmailDeliveryConfig(service=CaptureVerifyEmail()),
        ),
        # Default token transfer method: the client picks with `st-auth-mode`. Force VIA_TOKEN so
        # cookie sessions exercise the core's anti-CSRF path (the default would be NONE here).
        session.init(anti_csrf=os.environ.get("ST_ANTI_CSRF", "VIA_TOKEN")),  # type: ignore
        usermetadata.init(),
        userroles.init(),
    ],
    mode="asgi",
    telemetry=False,
)

app = FastAPI()
app.add_middleware(get_middleware())


def session_info(s: SessionContainer) -> Dict[str, Any]:
    return {
        "userId": s.get_user_id(),
        # no recipe user ids before account linking: None (the flows check that too)
        "recipeUserId": s.get_recipe_user_id().get_as_string() if HAS_ACCOUNT_LINKING else None,
        "tenantId": s.get_tenant_id(),
        "sessionHandle": s.get_handle(),
        "accessTokenPayload": s.get_access_token_payload(),
    }


async def json_body(request: Request) -> Dict[str, Any]:
    try:
        body = await request.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


@app.get("/protected")
async def protected(s: SessionContainer = Depends(verify_session())):
    return session_info(s)


@app.get("/protected-db")
async def protected_db(
    s: SessionContainer = Depends(verify_session(check_database=True)),
):
    return session_info(s)


@app.post("/regen")
async def regen(request: Request, s: SessionContainer = Depends(verify_session())):
    await s.merge_into_access_token_payload(await json_body(request))
    return session_info(s)


@app.post("/role")
async def role(s: SessionContainer = Depends(verify_session())):
    created = await create_new_role_or_add_permissions("admin", ["write"])
    added = await add_role_to_user(s.get_tenant_id(), s.get_user_id(), "admin")
    if isinstance(added, UnknownRoleError):
        raise Exception("addRoleToUser: UNKNOWN_ROLE_ERROR")
    roles = await get_roles_for_user(s.get_tenant_id(), s.get_user_id())
    perms = await get_permissions_for_role("admin")
    await s.fetch_and_set_claim(UserRoleClaim)
    await s.fetch_and_set_claim(PermissionClaim)
    return {
        "createdNewRole": created.created_new_role,
        "didUserAlreadyHaveRole": added.did_user_already_have_role,
        "roles": roles.roles,
        "permissions": (
            "UNKNOWN_ROLE_ERROR" if isinstance(perms, UnknownRoleError) else perms.permissions
        ),
        **session_info(s),
    }


@app.post("/metadata")
async def metadata(request: Request, s: SessionContainer = Depends(verify_session())):
    user_id = s.get_user_id()
    updated = await update_user_metadata(user_id, await json_body(request))
    read = await get_user_metadata(user_id)
    return {"updated": updated.metadata, "read": read.metadata}


@app.post("/delete-user")
async def delete_user_route(s: SessionContainer = Depends(verify_session())):
    user_id = s.get_user_id()
    await delete_user(user_id)  # returns None; raises on a core error
    return {"status": "OK", "userId": user_id}


# ---- test-only routes ----
@app.get("/test/last-link")
async def last_link(email: str = "", kind: str = ""):
    links = [
        link
        for link in SENT_LINKS.get(email.lower(), [])
        if not kind or link["kind"] == kind
    ]
    if not links:
        return JSONResponse({"status": "NO_LINK"}, status_code=404)
    last = links[-1]
    token = parse_qs(urlparse(last["link"]).query).get("token", [None])[0]
    return {
        "status": "OK",
        "kind": last["kind"],
        "link": last["link"],
        "token": token,
        "count": len(links),
    }


@app.get("/test/core-calls")
async def core_calls(since: int = 0):
    return {"seq": CORE_SEQ, "calls": [c for c in CORE_CALLS if c["seq"] > since]}


@app.get("/test/hello")
async def hello():
    return PlainTextResponse("ok")


@app.get("/test/sdk-info")
async def sdk_info():
    """What this SDK release is and can do; the flows adapt their checks to it."""
    return {
        "sdk": "supertokens-python",
        "version": SDK_VERSION,
        "cdiSupported": list(SUPPORTED_CDI_VERSIONS),
        "accountLinking": HAS_ACCOUNT_LINKING,
    }


@app.exception_handler(Exception)
async def on_error(request: Request, exc: Exception):
    print(f"[python app] unhandled error on {request.method} {request.url.path}: {exc!r}", flush=True)
    return JSONResponse({"status": "APP_ERROR", "message": str(exc)}, status_code=500)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
