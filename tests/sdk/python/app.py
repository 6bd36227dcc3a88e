"""FastAPI app using the official supertokens-python SDK, pointed at the core under test.

Same routes as ../node/app.js. Env: ST_CONNECTION_URI, ST_API_KEY, PORT, ST_MOCK_OAUTH_URL (the mock
OAuth/OIDC provider of ../mock-oauth/provider.mjs).
Run: python app.py  (uvicorn on 127.0.0.1:$PORT)
"""

import contextvars
import json
import os
import time
import re
from typing import Any, Dict, List, Optional
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
    multitenancy,
    passwordless,
    session,
    thirdparty,
    usermetadata,
    userroles,
)
from supertokens_python.ingredients.smsdelivery.types import SMSDeliveryConfig, SMSDeliveryInterface
from supertokens_python.recipe.multitenancy import asyncio as mt
from supertokens_python.recipe.thirdparty.provider import (
    ProviderClientConfig,
    ProviderConfig,
    ProviderInput,
    UserFields,
    UserInfoMap,
)
from supertokens_python.recipe.thirdparty.utils import SignInAndUpFeature
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

# The "linking" app (run.sh starts it beside the plain one, ST_APP_LINKING=1, for the
# account-linking and MFA flows): the same app plus the AccountLinking recipe with automatic
# linking, and MultiFactorAuth + TOTP where the release has them. The plain app leaves them out,
# so the other flows see the SDK's defaults (no linking, no st-mfa claim).
LINKING_APP = os.environ.get("ST_APP_LINKING") == "1"
try:
    from supertokens_python.recipe import accountlinking
except ImportError:  # not in this release
    accountlinking = None  # type: ignore[assignment]
try:
    from supertokens_python.recipe import multifactorauth, totp
except ImportError:  # not in this release
    multifactorauth = None  # type: ignore[assignment]
    totp = None  # type: ignore[assignment]

# Passkeys (supertokens-python 0.30+, CDI 5.3+), in the plain app: its defaults make the relying
# party the api_domain's host (`localhost`) and the origin the website_domain
# (`http://localhost:3000`), where the flows' "browser" says it runs (as node/app.js).
try:
    from supertokens_python.recipe import webauthn
except ImportError:  # not in this release
    webauthn = None  # type: ignore[assignment]
# The user-management dashboard (every tested release): no api_key, so its operators sign in with
# the core's dashboard users (e-mail and password) and the SDK checks their sessions in the core.
# One admin per app process (as node/app.js): its e-mail is in /test/sdk-info.
from supertokens_python.recipe import dashboard

PORT = int(os.environ.get("PORT", "3002"))
DASHBOARD_ADMIN = f"dashboard-admin-{PORT}@example.com"
CORE = os.environ.get("ST_CONNECTION_URI", "http://127.0.0.1:3567").rstrip("/")
API_KEY = os.environ.get("ST_API_KEY")
MOCK_OAUTH = os.environ.get("ST_MOCK_OAUTH_URL", "http://127.0.0.1:4000").rstrip("/")
CDI_MAX = max(float(v) for v in SUPPORTED_CDI_VERSIONS)

# Every request the SDK sends to the core, kept in a ring buffer so a failing flow can show the
# exact core exchanges (GET /test/core-calls). The SDK funnels all core calls through
# Querier.api_request (httpx); wrap it.
CORE_CALLS: List[Dict[str, Any]] = []
CORE_SEQ = 0
# The runner's id of the browser request being served (header `x-st-test-request`), kept with each
# core call it caused (as node/app.js): a runner checks "the core calls of this request" without
# counting those of another runner using this app at the same time.
CURRENT_REQUEST: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar("st_test_request", default=None)
_real_api_request = Querier.api_request


async def _logged_api_request(self: Any, url: str, method: str, attempts_remaining: int, *args: Any, **kwargs: Any):
    global CORE_SEQ
    CORE_SEQ += 1
    path = url[len(CORE):] if url.startswith(CORE) else url
    params = kwargs.get("params")
    if params:
        path += "?" + str(httpx.QueryParams(params))  # as httpx will send them
    call: Dict[str, Any] = {"seq": CORE_SEQ, "method": method, "path": path}
    if CURRENT_REQUEST.get():
        call["request"] = CURRENT_REQUEST.get()
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


# The SDK opens a new httpx.AsyncClient for every core call (`async with AsyncClient(timeout=30.0)`
# in supertokens_python/querier.py, every tested release), and building one costs about 24 ms of
# CPU (its TLS context), ten times what the rest of a call costs here: the python apps spent most
# of their time on it. One client for the whole app instead, with keep-alive connections to the
# core as supertokens-node's fetch has; the requests themselves are the same. ST_SDK_PY_CLIENT_PER_CALL=1
# keeps the SDK's own way.
class _SharedAsyncClient:
    client: Optional[httpx.AsyncClient] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def __aenter__(self) -> httpx.AsyncClient:
        if _SharedAsyncClient.client is None:
            _SharedAsyncClient.client = httpx.AsyncClient(timeout=30.0)
        return _SharedAsyncClient.client

    async def __aexit__(self, *exc: Any) -> bool:
        return False


if os.environ.get("ST_SDK_PY_CLIENT_PER_CALL") != "1":
    import supertokens_python.querier as _querier_module

    _querier_module.AsyncClient = _SharedAsyncClient  # type: ignore[attr-defined,misc]

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


# Passwordless codes "sent" by e-mail or SMS, newest last, keyed by lower-cased e-mail / phone.
SENT_CODES: Dict[str, List[Dict[str, Any]]] = {}


def capture_code(via: str, contact: str, v: Any) -> None:
    SENT_CODES.setdefault(contact.lower(), []).append(
        {
            "via": via,
            "contact": contact,
            "userInputCode": v.user_input_code,
            "urlWithLinkCode": v.url_with_link_code,
            "codeLifetime": v.code_life_time,
            "preAuthSessionId": v.pre_auth_session_id,
            "tenantId": v.tenant_id,
            "at": time.time(),
        }
    )


class CapturePasswordlessEmail(EmailDeliveryInterface[passwordless.EmailTemplateVars]):
    async def send_email(self, template_vars: passwordless.EmailTemplateVars, user_context: Dict[str, Any]) -> None:
        capture_code("email", template_vars.email, template_vars)


class CapturePasswordlessSms(SMSDeliveryInterface[passwordless.SMSTemplateVars]):
    async def send_sms(self, template_vars: passwordless.SMSTemplateVars, user_context: Dict[str, Any]) -> None:
        capture_code("sms", template_vars.phone_number, template_vars)


def user_fields(j: Optional[Dict[str, Any]]) -> Optional[UserFields]:
    if j is None:
        return None
    return UserFields(user_id=j.get("userId"), email=j.get("email"), email_verified=j.get("emailVerified"))


def provider_config(j: Dict[str, Any]) -> ProviderConfig:
    """A ProviderConfig from the JSON the flows send (the node SDK's camelCase shape)."""
    uim = j.get("userInfoMap")
    return ProviderConfig(
        third_party_id=j["thirdPartyId"],
        name=j.get("name"),
        clients=[
            ProviderClientConfig(client_id=c["clientId"], client_secret=c.get("clientSecret"), scope=c.get("scope"))
            for c in j.get("clients", [])
        ],
        authorization_endpoint=j.get("authorizationEndpoint"),
        authorization_endpoint_query_params=j.get("authorizationEndpointQueryParams"),
        token_endpoint=j.get("tokenEndpoint"),
        user_info_endpoint=j.get("userInfoEndpoint"),
        jwks_uri=j.get("jwksURI"),
        user_info_map=None
        if uim is None
        else UserInfoMap(
            from_id_token_payload=user_fields(uim.get("fromIdTokenPayload")),
            from_user_info_api=user_fields(uim.get("fromUserInfoAPI")),
        ),
    )


# The mock provider as the app's static ThirdParty provider (tenant public), same as node/app.js.
STATIC_PROVIDER = {
    "thirdPartyId": "mock",
    "name": "Mock OIDC",
    "clients": [{"clientId": "sdk-client-static", "clientSecret": "secret-sdk-client-static", "scope": ["openid", "email"]}],
    "authorizationEndpoint": f"{MOCK_OAUTH}/authorize",
    "tokenEndpoint": f"{MOCK_OAUTH}/token",
    "userInfoEndpoint": f"{MOCK_OAUTH}/userinfo",
    "jwksURI": f"{MOCK_OAUTH}/jwks",
    "userInfoMap": {
        "fromUserInfoAPI": {"userId": "sub", "email": "email", "emailVerified": "email_verified"},
        "fromIdTokenPayload": {"userId": "sub", "email": "email", "emailVerified": "email_verified"},
    },
}

async def should_do_automatic_account_linking(new_account_info: Any, user: Any, session: Any, tenant_id: Any, user_context: Any) -> Any:
    """Automatic linking for everyone except e-mails starting with "manual-" (the manual linking flow
    links those through the SDK's functions), verification required (as node/app.js)."""
    from supertokens_python.recipe.accountlinking import ShouldAutomaticallyLink, ShouldNotAutomaticallyLink

    email = getattr(new_account_info, "email", None)
    if isinstance(email, str) and email.lower().startswith("manual-"):
        return ShouldNotAutomaticallyLink()
    return ShouldAutomaticallyLink(should_require_verification=True)


def linking_recipes() -> List[Any]:
    if not LINKING_APP:
        return []
    out: List[Any] = []
    if accountlinking is not None:
        out.append(accountlinking.init(should_do_automatic_account_linking=should_do_automatic_account_linking))
    # MFA: the first factors are the tenant's; the required secondary factors come from the tenant
    # (requiredSecondaryFactors) and the user's metadata, the SDK's defaults.
    if multifactorauth is not None and totp is not None:
        out += [multifactorauth.init(), totp.init()]
    return out


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
        thirdparty.init(
            sign_in_and_up_feature=SignInAndUpFeature(
                providers=[ProviderInput(config=provider_config(STATIC_PROVIDER))]
            )
        ),
        passwordless.init(
            contact_config=passwordless.ContactEmailOrPhoneConfig(),
            flow_type="USER_INPUT_CODE_AND_MAGIC_LINK",
            email_delivery=EmailDeliveryConfig(service=CapturePasswordlessEmail()),
            sms_delivery=SMSDeliveryConfig(service=CapturePasswordlessSms()),
        ),
        multitenancy.init(),
        *([webauthn.init()] if webauthn is not None else []),
        dashboard.init(admins=[DASHBOARD_ADMIN]),
        *linking_recipes(),
    ],
    mode="asgi",
    telemetry=False,
)

app = FastAPI()
app.add_middleware(get_middleware())


class TagRequests:
    """Outermost ASGI middleware: CURRENT_REQUEST from the `x-st-test-request` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        tag = None
        if scope["type"] == "http":
            raw = dict(scope["headers"]).get(b"x-st-test-request")
            tag = raw.decode() if raw else None
        token = CURRENT_REQUEST.set(tag)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_REQUEST.reset(token)


app.add_middleware(TagRequests)


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
def result_json(r: Any) -> Dict[str, Any]:
    """An SDK result object as the node SDK's JSON: status first, attributes in camelCase."""
    out: Dict[str, Any] = {"status": r.status}
    for k, v in vars(r).items():
        if k != "status":
            out[re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)] = v
    return out


def recipe_user_id_arg(user_id: str) -> Any:
    if HAS_ACCOUNT_LINKING:
        from supertokens_python.types import RecipeUserId

        return RecipeUserId(user_id)
    return user_id


@app.post("/test/tenant")
async def test_tenant(request: Request):
    """Tenant set-up through the SDK's Multitenancy recipe: {tenantId, coreConfig?, providers?,
    requiredSecondaryFactors?} -> create_or_update_tenant with every login method on, then
    create_or_update_third_party_config per provider (-> config/thirdparty)."""
    body = await json_body(request)
    tenant_id = body["tenantId"]
    core_config = body.get("coreConfig") or {}
    if CDI_MAX >= 5.1:
        # first factors, named: a new tenant made through tenant/v2 without them has
        # `firstFactors: []`, which the SDK reads as "none" (see node/app.js)
        from supertokens_python.recipe.multitenancy.interfaces import TenantConfigCreateOrUpdate

        extra: Dict[str, Any] = {}
        if body.get("requiredSecondaryFactors") is not None:
            # MFA: the tenant's required second factors, stored in the core's tenant config
            extra["required_secondary_factors"] = body["requiredSecondaryFactors"]
        config: Any = TenantConfigCreateOrUpdate(
            core_config=core_config,
            first_factors=["emailpassword", "thirdparty", "otp-email", "otp-phone", "link-email", "link-phone"],
            **extra,
        )
    else:
        from supertokens_python.recipe.multitenancy.interfaces import TenantConfig

        config = TenantConfig(
            email_password_enabled=True, passwordless_enabled=True, third_party_enabled=True, core_config=core_config
        )
    tenant = await mt.create_or_update_tenant(tenant_id, config)
    providers = [
        result_json(await mt.create_or_update_third_party_config(tenant_id, provider_config(p)))
        for p in body.get("providers") or []
    ]
    return {"status": tenant.status, "createdNew": tenant.created_new, "providers": providers}


@app.post("/test/tenant/remove-provider")
async def test_tenant_remove_provider(request: Request):
    body = await json_body(request)
    return result_json(await mt.delete_third_party_config(body["tenantId"], body["thirdPartyId"]))


@app.post("/test/tenant/associate")
async def test_tenant_associate(request: Request):
    body = await json_body(request)
    return result_json(await mt.associate_user_to_tenant(body["tenantId"], recipe_user_id_arg(body["recipeUserId"])))


@app.post("/test/tenant/disassociate")
async def test_tenant_disassociate(request: Request):
    body = await json_body(request)
    # supertokens-python 0.24 spells it dissociate_user_from_tenant
    disassociate = getattr(mt, "disassociate_user_from_tenant", None) or getattr(mt, "dissociate_user_from_tenant")
    return result_json(await disassociate(body["tenantId"], recipe_user_id_arg(body["recipeUserId"])))


@app.get("/test/user")
async def test_user(userId: str = ""):
    """The core's user object through the SDK (get_user; releases with account linking)."""
    if not HAS_ACCOUNT_LINKING:
        return JSONResponse({"status": "NOT_SUPPORTED"}, status_code=404)
    from supertokens_python.asyncio import get_user

    user = await get_user(userId)
    return {"status": "UNKNOWN_USER_ID_ERROR"} if user is None else {"status": "OK", "user": user.to_json()}


def sdk_json(r: Any) -> Dict[str, Any]:
    """result_json, with a user object through its to_json."""
    out = result_json(r)
    for k, v in list(out.items()):
        if hasattr(v, "to_json"):
            out[k] = v.to_json()
    return out


@app.post("/test/accountlinking")
async def test_accountlinking(request: Request):
    """The SDK's account-linking functions (the admin side; test only): {op, recipeUserId,
    primaryUserId} -> can_create_primary_user / create_primary_user / can_link_accounts /
    link_accounts / unlink_account, their answer as JSON (as node/app.js)."""
    if accountlinking is None:
        return JSONResponse({"status": "NOT_SUPPORTED"}, status_code=404)
    from supertokens_python.recipe.accountlinking import asyncio as al
    from supertokens_python.types import RecipeUserId

    body = await json_body(request)
    op = body.get("op")
    rid = RecipeUserId(body["recipeUserId"])
    if op == "can-create-primary":
        r = await al.can_create_primary_user(rid)
    elif op == "create-primary":
        r = await al.create_primary_user(rid)
    elif op == "can-link":
        r = await al.can_link_accounts(rid, body["primaryUserId"])
    elif op == "link":
        r = await al.link_accounts(rid, body["primaryUserId"])
    elif op == "unlink":
        r = await al.unlink_account(rid)
    else:
        return JSONResponse({"status": "BAD_OP", "op": op}, status_code=400)
    return sdk_json(r)


@app.post("/test/mfa/require-factor")
async def test_mfa_require_factor(request: Request):
    """add_to_required_secondary_factors_for_user (-> user metadata `_supertokens`; test only)."""
    if multifactorauth is None:
        return JSONResponse({"status": "NOT_SUPPORTED"}, status_code=404)
    from supertokens_python.recipe.multifactorauth import asyncio as mfa

    body = await json_body(request)
    await mfa.add_to_required_secondary_factors_for_user(body["userId"], body["factorId"])
    return {"status": "OK", "requiredSecondaryFactors": await mfa.get_required_secondary_factors_for_user(body["userId"])}


async def dashboard_user_in_core(method: str, params: Optional[Dict[str, str]], body: Optional[Dict[str, Any]]) -> Any:
    """Dashboard users, made and removed in the core the way an operator does (the SDKs have no
    function for it: POST / DELETE /recipe/dashboard/user with the API key; test only)."""
    async with httpx.AsyncClient(timeout=30.0) as client:
        res = await client.request(
            method,
            f"{CORE}/recipe/dashboard/user",
            params=params,
            json=body,
            headers={"api-key": API_KEY or "", "cdi-version": SUPPORTED_CDI_VERSIONS[-1]},
        )
    return PlainTextResponse(res.text, status_code=res.status_code, media_type="application/json")


@app.post("/test/dashboard-user")
async def test_dashboard_user(request: Request):
    body = await json_body(request)
    return await dashboard_user_in_core("POST", None, {"email": body.get("email"), "password": body.get("password")})


@app.post("/test/dashboard-user/remove")
async def test_dashboard_user_remove(request: Request):
    body = await json_body(request)
    return await dashboard_user_in_core("DELETE", {"email": body.get("email", "")}, None)


@app.get("/test/last-code")
async def last_code(contact: str = ""):
    codes = SENT_CODES.get(contact.lower(), [])
    if not codes:
        return JSONResponse({"status": "NO_CODE"}, status_code=404)
    last = codes[-1]
    link = urlparse(last["urlWithLinkCode"]) if last["urlWithLinkCode"] else None
    return {
        "status": "OK",
        **last,
        "linkCode": link.fragment if link else None,
        "linkPreAuthSessionId": parse_qs(link.query).get("preAuthSessionId", [None])[0] if link else None,
        "count": len(codes),
    }


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
        # the recipes of the linking app (ST_APP_LINKING=1) in this release
        "linkingApp": LINKING_APP,
        "accountLinkingRecipe": accountlinking is not None,
        "mfa": multifactorauth is not None and totp is not None,
        "webauthn": webauthn is not None,
        "dashboardAdmin": DASHBOARD_ADMIN,
    }


@app.exception_handler(Exception)
async def on_error(request: Request, exc: Exception):
    print(f"[python app] unhandled error on {request.method} {request.url.path}: {exc!r}", flush=True)
    return JSONResponse({"status": "APP_ERROR", "message": str(exc)}, status_code=500)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
