"""The service provider of the SAML end-to-end test on supertokens-python 0.31 (the twin of app.js):
the SAML recipe (/auth/<tenant>/saml/login, /auth/<tenant>/saml/callback) and a ThirdParty provider
"saml-e2e" (type saml: /auth/signinup redeems the code through the core's /recipe/saml/user),
Session in header mode, over the core under test. Runs in the venv of tests/sdk/python
(<target>/sdk-venv: fastapi, uvicorn).

Env: ST_CONNECTION_URI (core URL), ST_API_KEY, PORT, SAML_CLIENT_ID.
Test-only routes: PUT /test/saml/client (saml.asyncio.create_or_update_client with the JSON body),
GET /test/core-calls (the core calls the SDK made, "METHOD /path", in order).
"""

import os
from typing import Any, List

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from supertokens_python import InputAppInfo, SupertokensConfig, init
from supertokens_python.framework.fastapi import get_middleware
from supertokens_python.querier import Querier
from supertokens_python.recipe import saml, session, thirdparty
from supertokens_python.recipe.saml.asyncio import create_or_update_client
from supertokens_python.recipe.thirdparty.provider import ProviderClientConfig, ProviderConfig, ProviderInput

CORE = os.environ["ST_CONNECTION_URI"].rstrip("/")
PORT = int(os.environ.get("PORT", "3103"))
CLIENT_ID = os.environ.get("SAML_CLIENT_ID", "saml-e2e-client")

CORE_CALLS: List[str] = []
_real_api_request = Querier.api_request


async def _logged_api_request(self: Any, url: str, method: str, *args: Any, **kwargs: Any):
    CORE_CALLS.append(f"{method.upper()} {url[len(CORE):] if url.startswith(CORE) else url}")
    return await _real_api_request(self, url, method, *args, **kwargs)


Querier.api_request = _logged_api_request  # type: ignore

init(
    app_info=InputAppInfo(
        app_name="saml-e2e",
        api_domain=f"http://localhost:{PORT}",
        website_domain="http://localhost:3000",
        api_base_path="/auth",
        website_base_path="/auth",
    ),
    supertokens_config=SupertokensConfig(connection_uri=CORE, api_key=os.environ["ST_API_KEY"]),
    framework="fastapi",
    recipe_list=[
        saml.init(),
        thirdparty.init(
            sign_in_and_up_feature=thirdparty.SignInAndUpFeature(
                providers=[
                    ProviderInput(
                        config=ProviderConfig(
                            third_party_id="saml-e2e", clients=[ProviderClientConfig(client_id=CLIENT_ID)]
                        )
                    )
                ]
            )
        ),
        session.init(get_token_transfer_method=lambda *_: "header"),
    ],
    mode="asgi",
)

app = FastAPI()
app.add_middleware(get_middleware())


@app.get("/hello")
async def hello():
    return PlainTextResponse("hello")


@app.put("/test/saml/client")
async def put_client(request: Request):
    b = await request.json()
    r = await create_or_update_client(
        tenant_id="public",
        client_id=b.get("clientId"),
        redirect_uris=b["redirectURIs"],
        default_redirect_uri=b["defaultRedirectURI"],
        metadata_xml=b["metadataXML"],
    )
    out = {"status": r.status}
    if r.status == "OK":
        out.update(r.client.to_json())  # type: ignore
    return JSONResponse(out)


@app.get("/test/core-calls")
async def core_calls():
    return JSONResponse(CORE_CALLS)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
