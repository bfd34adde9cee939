"""The Teams stand-in behaves like the Microsoft pages it was built from (platform-apis.md §A–F, I).

These talk to the sandbox with a plain aiohttp client and receive its deliveries on a bare
capture server, so what is checked is the wire format itself, not our adapter's reading of it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.org import load_org
from sandbox.teams import ChatActivity, TeamsSandbox

ADA = "0a0a0a0a-0000-4000-8000-000000000ada"
BOB = "0b0b0b0b-0000-4000-8000-000000000b0b"
IVAN = "01da0000-0000-4000-8000-0000000001da"
CONNECTOR = "https://api.botframework.com/.default"
GRAPH = "https://graph.microsoft.com/.default"
REDIRECT = "https://bot.example/oauth/teams/callback"


def card_activity(*actions: dict[str, Any], version: str = "1.4") -> dict[str, Any]:
    content = {"type": "AdaptiveCard", "version": version, "body": [], "actions": list(actions)}
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
        ],
    }


ALLOW = {"type": "Action.Submit", "title": "Allow", "data": {"action_id": "a", "value": "1"}}


@dataclass
class Capture:
    """A stand-in bot: keeps what the connector delivered, answers `answer`."""

    requests: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
async def teams() -> AsyncIterator[TeamsSandbox]:
    sandbox = TeamsSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def capture(teams: TeamsSandbox) -> AsyncIterator[Capture]:
    seen = Capture()

    async def messages(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen.requests.append((await request.json(), headers))
        return web.json_response(seen.answer)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    teams.bot_url = str(server.make_url("/"))
    yield seen
    await server.close()


async def app_token(teams: TeamsSandbox, http: aiohttp.ClientSession, scope: str) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": teams.app_id,
        "client_secret": teams.app_password,
        "scope": scope,
    }
    async with http.post(f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token", data=form) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- OpenID metadata, keys and signed deliveries ----------------------------------------------


async def test_openid_metadata_and_keys(teams: TeamsSandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(teams.env()["TEAMS_OPENID_URL"]) as r:
        metadata = await r.json()
    assert metadata["issuer"] == "https://api.botframework.com"
    async with http.get(metadata["jwks_uri"]) as r:
        keys = (await r.json())["keys"]
    assert [k["kty"] for k in keys] == ["RSA", "RSA"]
    assert "msteams" in keys[0]["endorsements"] and "msteams" not in keys[1]["endorsements"]
    token = teams.make_token()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == keys[0]["kid"]
    public = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=teams.app_id)
    assert claims["iss"] == "https://api.botframework.com"
    assert claims["serviceurl"] == teams.service_url == f"{teams.url}/amer/"
    assert claims["exp"] - claims["nbf"] > 3000


def test_make_token_overrides_and_signings(teams: TeamsSandbox) -> None:
    token = teams.make_token(aud="other", serviceurl=None)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "other" and "serviceurl" not in claims
    published = jwt.get_unverified_header(teams.make_token())["kid"]
    assert jwt.get_unverified_header(teams.make_token(signing="forged"))["kid"] == published
    assert jwt.get_unverified_header(teams.make_token(signing="unknown-kid"))["kid"] != published
    with pytest.raises(ValueError, match="signing"):
        teams.make_token(signing="nope")


async def test_send_text_delivers_a_signed_personal_message(
    teams: TeamsSandbox, capture: Capture
) -> None:
    status, _ = await teams.send_text(ADA, "<at>Mio User Sync</at> sync <at>Bob Marley</at> zoom")
    assert status == 200
    ((activity, headers),) = capture.requests
    assert headers["authorization"].startswith("Bearer ey")
    assert activity["type"] == "message" and activity["channelId"] == "msteams"
    assert activity["from"]["aadObjectId"] == ADA and activity["from"]["id"].startswith("29:")
    assert activity["recipient"] == {"id": f"28:{teams.app_id}", "name": "Mio User Sync"}
    assert activity["conversation"] == {
        "conversationType": "personal",
        "tenantId": teams.tenant_id,
        "id": teams.conversations[ADA],
    }
    assert activity["serviceUrl"] == teams.service_url
    bot, bob = activity["entities"]
    assert bot["mentioned"]["id"] == f"28:{teams.app_id}"
    assert bob == {
        "type": "mention",
        "text": "<at>Bob Marley</at>",
        "mentioned": {"id": teams.member_id(BOB), "name": "Bob Marley"},
    }
    assert ADA in teams.installed  # chatting with the bot means having it
    (typed,) = teams.chat(ADA)
    assert not typed.from_bot and teams.inbox(ADA) == []


async def test_press_and_execute_carry_the_buttons_data(
    teams: TeamsSandbox, capture: Capture
) -> None:
    attachments = card_activity(ALLOW)["attachments"]
    message = ChatActivity("17", "a:1x", BOB, True, "now", attachments=attachments)
    await teams.press(BOB, message, "a")
    await teams.execute(BOB, message, "Allow")  # found by title too
    (submit, _), (invoke, _) = capture.requests
    assert (submit["type"], submit["replyToId"], submit["value"]) == (
        "message",
        "17",
        {"action_id": "a", "value": "1"},
    )
    assert "text" not in submit
    assert (invoke["type"], invoke["name"]) == ("invoke", "adaptiveCard/action")
    assert invoke["value"]["action"]["data"] == {"action_id": "a", "value": "1"}
    with pytest.raises(LookupError):
        await teams.press(BOB, message, "missing")


async def test_deliver_without_a_token_sends_no_authorization(
    teams: TeamsSandbox, capture: Capture
) -> None:
    await teams.deliver(teams.activity_for(BOB, text="hi"), token="")
    ((_, headers),) = capture.requests
    assert "authorization" not in headers
    assert teams.deliveries[-1].status == 200


# -- Microsoft login ----------------------------------------------------------------------------


async def test_token_endpoint_refusals(teams: TeamsSandbox, http: aiohttp.ClientSession) -> None:
    url = f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token"
    good = {
        "grant_type": "client_credentials",
        "client_id": teams.app_id,
        "client_secret": teams.app_password,
        "scope": GRAPH,
    }
    cases = [
        (url, good | {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (url, good | {"client_id": "nobody"}, 400, "unauthorized_client", 700016),
        (url, good | {"scope": "User.Read"}, 400, "invalid_scope", 1002012),
        (url, good | {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        (url.replace(teams.tenant_id, "common"), good, 400, "invalid_request", 50059),
        (url.replace(teams.tenant_id, "elsewhere"), good, 400, "invalid_request", 90002),
    ]
    for target, form, status, error, code in cases:
        async with http.post(target, data=form) as r:
            body = await r.json()
            assert (r.status, body["error"], body["error_codes"]) == (status, error, [code])
            assert body["error_description"].startswith(f"AADSTS{code}")
    async with http.post(url, json=good) as r:  # JSON bodies are not read
        assert (r.status, (await r.json())["error"]) == (400, "invalid_request")


async def test_authorize_page_codes_and_refresh(
    teams: TeamsSandbox, http: aiohttp.ClientSession
) -> None:
    query = urllib.parse.urlencode(
        {
            "client_id": teams.app_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "response_mode": "query",
            "scope": "offline_access User.Read",
            "state": "s1",
        }
    )
    url = f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/authorize?{query}"
    async with http.get(url) as r:
        page = await r.text()
        assert r.status == 200 and "<select name='user_id'>" in page and "Cancel" in page
    async with http.get(url.replace(teams.app_id, "nobody")) as r:
        assert r.status == 400
    location = await teams.authorize(url, BOB)
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert location.startswith(REDIRECT + "?") and answer["state"] == ["s1"]
    assert teams.principal_grant(BOB) is not None
    token_url = f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "authorization_code",
        "client_id": teams.app_id,
        "client_secret": teams.app_password,
        "code": answer["code"][0],
        "redirect_uri": "https://elsewhere.example/cb",
    }
    async with http.post(token_url, data=form) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_grant")
    location = await teams.authorize(url, BOB)
    form["code"] = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    form["redirect_uri"] = REDIRECT
    async with http.post(token_url, data=form) as r:
        tokens = await r.json()
    assert "User.Read" in tokens["scope"] and tokens["refresh_token"]
    refresh = {k: form[k] for k in ("client_id", "client_secret")} | {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
    }
    async with http.post(token_url, data=refresh) as r:
        assert r.status == 200 and (await r.json())["refresh_token"] != tokens["refresh_token"]
    async with http.post(token_url, data=refresh) as r:  # refresh tokens rotate
        assert r.status == 400
    async with http.get(f"{teams.url}/v1.0/me", headers=bearer(tokens["access_token"])) as r:
        me = await r.json()
    assert (me["id"], me["mail"]) == (BOB, "BOB@acme.test")
    cancelled = await teams.authorize(url, BOB, approve=False)
    assert "error=access_denied" in cancelled and "state=s1" in cancelled


# -- Bot Connector ------------------------------------------------------------------------------


async def test_connector_needs_its_own_token(
    teams: TeamsSandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{teams.service_url}v3/conversations"
    async with http.post(url, json={}) as r:
        assert (r.status, await r.json()) == (
            401,
            {"message": "Authorization has been denied for this request."},
        )
    graph = await app_token(teams, http, GRAPH)
    async with http.post(url, json={}, headers=bearer(graph)) as r:
        assert r.status == 401


async def test_conversation_needs_the_app_installed(
    teams: TeamsSandbox, http: aiohttp.ClientSession
) -> None:
    token = await app_token(teams, http, CONNECTOR)
    url = f"{teams.service_url}v3/conversations"
    body = {
        "isGroup": False,
        "bot": {"id": f"28:{teams.app_id}"},
        "members": [{"id": BOB}],
        "channelData": {"tenant": {"id": teams.tenant_id}},
        "tenantId": teams.tenant_id,
    }
    async with http.post(url, json=body, headers=bearer(token)) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "ForbiddenOperationException"
    teams.installed.add(BOB)
    aad_only = body | {"members": [{"aadObjectId": BOB}]}
    async with http.post(url, json=aad_only, headers=bearer(token)) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (400, "BadArgument")
    ids = []
    for member in (BOB, teams.member_id(BOB)):  # the Entra id and the 29: id name one chat
        async with http.post(
            url, json=body | {"members": [{"id": member}]}, headers=bearer(token)
        ) as r:
            assert r.status == 201
            ids.append((await r.json())["id"])
    assert ids[0] == ids[1] == teams.conversations[BOB] and ids[0].startswith("a:1")


async def test_send_update_and_refusals(teams: TeamsSandbox, http: aiohttp.ClientSession) -> None:
    token = await app_token(teams, http, CONNECTOR)
    teams.installed.add(BOB)
    chat = urllib.parse.quote(teams.conversation_for(BOB), safe="")
    url = f"{teams.service_url}v3/conversations/{chat}/activities"
    async with http.post(url, json=card_activity(ALLOW), headers=bearer(token)) as r:
        assert r.status == 201
        activity_id = (await r.json())["id"]
    (sent,) = teams.inbox(BOB)
    assert sent.id == activity_id and sent.actions == [ALLOW]
    for bad in (card_activity(version="1.6"), card_activity({"type": "Action.Http"}), {}):
        async with http.post(url, json=bad, headers=bearer(token)) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (400, "BadArgument")
    huge = card_activity() | {"text": "x" * 30_000}
    async with http.post(url, json=huge, headers=bearer(token)) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (413, "MessageSizeTooBig")
    edited = card_activity() | {"text": "done"}
    async with http.put(f"{url}/{activity_id}", json=edited, headers=bearer(token)) as r:
        assert r.status == 200
    assert (teams.inbox(BOB)[0].edited, teams.inbox(BOB)[0].lines) == (1, [])
    async with http.put(f"{url}/999", json=edited, headers=bearer(token)) as r:
        assert (await r.json())["error"]["code"] == "ActivityNotFoundInConversation"
    async with http.post(url.replace(chat, "a%3Anope"), json=edited, headers=bearer(token)) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "ConversationNotFound")
    teams.block(BOB)
    async with http.post(url, json=edited, headers=bearer(token)) as r:
        body = await r.json()
        assert (r.status, body["errorCode"]) == (403, 209)
        assert json.loads(body["message"])["subCode"] == "MessageWritesBlocked"
    teams.block(BOB, "conversation")
    async with http.put(f"{url}/{activity_id}", json=edited, headers=bearer(token)) as r:
        assert (await r.json())["error"]["code"] == "ConversationBlockedByUser"


async def test_faults_use_each_surfaces_shape(
    teams: TeamsSandbox, http: aiohttp.ClientSession
) -> None:
    teams.rate_limit("/activities", retry_after=4)
    teams.fail("/v1.0/users", 503)
    teams.fail("/oauth2/v2.0/token", 500)
    async with http.post(f"{teams.service_url}v3/conversations/x/activities") as r:
        assert (r.status, r.headers["Retry-After"]) == (429, "4")
        assert (await r.json())["error"]["code"] == "Throttled"
    async with http.get(f"{teams.url}/v1.0/users") as r:
        assert (await r.json())["error"]["code"] == "ServiceUnavailable"
    async with http.post(f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token") as r:
        assert (await r.json())["error"] == "temporarily_unavailable"


# -- Microsoft Graph ----------------------------------------------------------------------------


async def graph_get(
    http: aiohttp.ClientSession, url: str, token: str, **params: str
) -> tuple[int, Any]:
    async with http.get(url, params=params or None, headers=bearer(token)) as r:
        return r.status, await r.json()


async def test_users_select_and_paging(teams: TeamsSandbox, http: aiohttp.ClientSession) -> None:
    token = await app_token(teams, http, GRAPH)
    users = f"{teams.url}/v1.0/users"
    _, plain = await graph_get(http, users, token)
    assert "accountEnabled" not in plain["value"][0] and "userType" not in plain["value"][0]
    teams.max_page_size = 2
    fields = "id,displayName,mail,userPrincipalName,accountEnabled,userType"
    status, page = await graph_get(http, users, token, **{"$select": fields, "$top": "999"})
    seen = list(page["value"])
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith(f"{teams.url}/v1.0/users?")
        status, page = await graph_get(http, page["@odata.nextLink"], token)
        seen += page["value"]
    assert status == 200 and {u["id"] for u in seen} == set(teams.users)
    ivan = next(u for u in seen if u["id"] == IVAN)
    assert ivan["userType"] == "Guest" and "#EXT#" in ivan["userPrincipalName"]
    assert (await graph_get(http, users, token, **{"$top": "1000"}))[0] == 400
    assert (await graph_get(http, users, token, **{"$select": "nope"}))[0] == 400
    assert (await graph_get(http, users, "bad"))[1]["error"]["code"] == (
        "InvalidAuthenticationToken"
    )
    assert (await graph_get(http, f"{teams.url}/v1.0/me", token))[0] == 400  # needs a person


async def test_roles_organization_and_permissions(
    teams: TeamsSandbox, http: aiohttp.ClientSession
) -> None:
    token = await app_token(teams, http, GRAPH)
    _, org = await graph_get(http, f"{teams.url}/v1.0/organization", token)
    assert org["value"][0]["id"] == teams.tenant_id
    _, roles = await graph_get(http, f"{teams.url}/v1.0/directoryRoles", token)
    by_name = {r["displayName"]: r for r in roles["value"]}
    admin = by_name["Global Administrator"]
    assert admin["roleTemplateId"] == "62e90394-69f5-4237-9190-012177145e10"
    assert admin["id"] != admin["roleTemplateId"]
    _, members = await graph_get(
        http, f"{teams.url}/v1.0/directoryRoles/{admin['id']}/members", token
    )
    assert [(m["@odata.type"], m["id"]) for m in members["value"]] == [
        ("#microsoft.graph.user", ADA)
    ]
    teams.app_permissions.discard("RoleManagement.Read.Directory")
    status, denied = await graph_get(http, f"{teams.url}/v1.0/directoryRoles", token)
    assert (status, denied["error"]["code"]) == (403, "Authorization_RequestDenied")


async def test_catalog_install_and_grants(teams: TeamsSandbox, http: aiohttp.ClientSession) -> None:
    token = await app_token(teams, http, GRAPH)
    graph = f"{teams.url}/v1.0/"
    by_manifest_id = {"$filter": f"externalId eq '{teams.app_id}'"}
    _, apps = await graph_get(http, graph + "appCatalogs/teamsApps", token, **by_manifest_id)
    assert [a["id"] for a in apps["value"]] == [teams.catalog_id]
    install = f"{graph}users/{BOB}/teamwork/installedApps"
    wrong = {"teamsApp@odata.bind": f"{graph}appCatalogs/teamsApps/{teams.app_id}"}
    async with http.post(install, json=wrong, headers=bearer(token)) as r:
        assert r.status == 400  # the manifest id is not the catalog id (§I.21)
    right = {"teamsApp@odata.bind": f"{graph}appCatalogs/teamsApps/{teams.catalog_id}"}
    statuses = []
    for _ in range(2):
        async with http.post(install, json=right, headers=bearer(token)) as r:
            statuses.append(r.status)
    assert statuses == [201, 409] and teams.installs == [BOB]
    await teams.authorize(
        f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/authorize?"
        + urllib.parse.urlencode(
            {
                "client_id": teams.app_id,
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "User.Read",
                "state": "x",
            }
        ),
        BOB,
    )
    _, principals = await graph_get(
        http, graph + "servicePrincipals", token, **{"$filter": f"appId eq '{teams.app_id}'"}
    )
    sp_id = principals["value"][0]["id"]
    by_app = f"clientId eq '{teams.app_id}' and principalId eq '{BOB}'"
    _, none = await graph_get(http, graph + "oauth2PermissionGrants", token, **{"$filter": by_app})
    assert none["value"] == []  # the app id finds nothing (§I.22)
    by_sp = f"clientId eq '{sp_id}' and principalId eq '{BOB}'"
    _, grants = await graph_get(http, graph + "oauth2PermissionGrants", token, **{"$filter": by_sp})
    (grant,) = grants["value"]
    assert grant["consentType"] == "Principal"
    for expected in (204, 404):
        async with http.delete(
            f"{graph}oauth2PermissionGrants/{grant['id']}", headers=bearer(token)
        ) as r:
            assert r.status == expected
    status, _ = await graph_get(http, graph + "oauth2PermissionGrants", token, **{"$filter": "x"})
    assert status == 400


# -- browser inbox ----------------------------------------------------------------------------


async def test_inbox_page_shows_cards_and_acts(
    teams: TeamsSandbox, http: aiohttp.ClientSession, capture: Capture
) -> None:
    teams.installed.add(BOB)
    token = await app_token(teams, http, CONNECTOR)
    chat = urllib.parse.quote(teams.conversation_for(BOB), safe="")
    url = f"{teams.service_url}v3/conversations/{chat}/activities"
    async with http.post(url, json=card_activity(ALLOW), headers=bearer(token)) as r:
        activity_id = (await r.json())["id"]
    async with http.get(f"{teams.url}/inbox/{BOB}") as r:
        page = await r.text()
    assert "Bob Marley" in page and 'value="a"' in page
    form = {"activity_id": activity_id, "action_id": "a"}
    async with http.post(f"{teams.url}/inbox/{BOB}/press", data=form, allow_redirects=False) as r:
        assert r.status == 303
    async with http.post(
        f"{teams.url}/inbox/{BOB}/send", data={"text": "help"}, allow_redirects=False
    ) as r:
        assert r.status == 303
    assert [a["value"] if "value" in a else a["text"] for a, _ in capture.requests] == [
        {"action_id": "a", "value": "1"},
        "help",
    ]
    async with http.get(f"{teams.url}/inbox/nobody") as r:
        assert r.status == 404
