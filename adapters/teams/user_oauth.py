"""A person proves which Teams account is theirs: Microsoft identity platform v2.0 (§F.2).

The code is exchanged with the app's client secret (a confidential web client) and the identity
read from Graph `/me`. Microsoft has no token revocation endpoint (§I.14): "revoking" deletes the
person's own delegated permission grant for our app, found through our service principal's id —
`oauth2PermissionGrant.clientId` is that id, not the app id, so filtering by app id would
silently find nothing (§I.22). The tenant-wide `AllPrincipals` grant is never touched.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.teams.client import AppToken, TeamsHttp
from adapters.teams.errors import PLATFORM, to_platform_error
from bot.types import Identity, PermanentFailure, PlatformUserId, TokenGrant

# The relay's delegated scopes (issue 10 §5, relay-apis §2.1-§2.3): reading and sending the
# person's 1:1 messages and subscribing to them, with a refresh token.
USER_SCOPES = "offline_access User.Read Chat.ReadWrite ChatMessage.Send"
REVOKED = "Teams has no token revocation; removed the delegated permission grant"
NO_GRANT = "Teams has no token revocation; no grant found; stored tokens deleted only"


class UserOAuth:
    def __init__(
        self,
        *,
        http: TeamsHttp,
        graph: AppToken,
        login_url: str,
        graph_url: str,
        tenant_id: str,
        app_id: str,
        app_password: str,
    ) -> None:
        self._http = http
        self._graph = graph
        self._login = f"{login_url}{urllib.parse.quote(tenant_id, safe='')}/oauth2/v2.0/"
        self._graph_url = graph_url
        self._app_id = app_id
        self._password = app_password
        self._service_principal: str | None = None

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": self._app_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "response_mode": "query",
                "scope": USER_SCOPES,
                "state": state,
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self._login}authorize?{query}"

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        body = await self._http.token(
            self._login + "token",
            {
                "grant_type": "authorization_code",
                "client_id": self._app_id,
                "client_secret": self._password,
                "code": code,
                "redirect_uri": redirect_uri,
                "scope": USER_SCOPES,
            },
            user_token=True,
        )
        access_token = str(body["access_token"])
        status, headers, me = await self._http.send(
            "GET",
            self._graph_url + "me",
            headers={"Authorization": f"Bearer {access_token}"},
            params={"$select": "id,mail,userPrincipalName"},
            user_token=True,
        )
        if status != 200 or not isinstance(me, dict) or not me.get("id"):
            raise to_platform_error(status, headers, me, user_token=True)
        email = me.get("mail") or me.get("userPrincipalName") or None
        expires_in = body.get("expires_in")
        return TokenGrant(
            identity=Identity(PlatformUserId(str(me["id"])), str(email) if email else None),
            access_token=access_token,
            refresh_token=body.get("refresh_token") or None,
            expires_at=datetime.now(UTC) + timedelta(seconds=float(expires_in))
            if expires_in
            else None,
            scope=str(body.get("scope") or ""),
        )

    async def service_principal_id(self) -> str | None:
        """Our app's service principal in the tenant (the grants' `clientId`), cached."""
        if self._service_principal is None:
            body = await self._graph.expect(
                "GET",
                self._graph_url + "servicePrincipals",
                params={"$filter": f"appId eq '{self._app_id}'", "$select": "id,appId"},
            )
            found = body.get("value") if isinstance(body, dict) else None
            if found and isinstance(found[0], dict) and found[0].get("id"):
                self._service_principal = str(found[0]["id"])
        return self._service_principal

    async def _grants(self, client_id: str, user_id: str) -> list[dict[str, Any]]:
        grants: list[dict[str, Any]] = []
        url: str | None = self._graph_url + "oauth2PermissionGrants"
        params: dict[str, str] | None = {
            "$filter": f"clientId eq '{client_id}' and principalId eq '{user_id}'"
        }
        while url:
            body = await self._graph.expect("GET", url, params=params)
            if not isinstance(body, dict):
                raise to_platform_error(502, {}, {"message": "grant list is not an object"})
            grants += [g for g in body.get("value") or [] if isinstance(g, dict)]
            link = body.get("@odata.nextLink")
            url, params = (link, None) if isinstance(link, str) and link else (None, None)
        return grants

    async def revoke(self, grant: TokenGrant) -> str:
        """Delete this person's delegated grant for our app; say which of the two happened."""
        user_id = grant.identity.user_id
        if not user_id:
            raise PermanentFailure(PLATFORM, "the stored grant names no Entra user id")
        client_id = await self.service_principal_id()
        if client_id is None:
            return NO_GRANT
        deleted = 0
        for found in await self._grants(client_id, user_id):
            # Only the person's own consent: never the tenant-wide AllPrincipals grant (§I.22),
            # even if an odd filter answer included it.
            if found.get("consentType") != "Principal" or found.get("principalId") != user_id:
                continue
            grant_id = urllib.parse.quote(str(found.get("id") or ""), safe="")
            status, headers, body = await self._graph.authorized(
                "DELETE", f"{self._graph_url}oauth2PermissionGrants/{grant_id}"
            )
            if status not in (200, 204, 404):  # 404: deleted meanwhile, the goal is reached
                raise to_platform_error(status, headers, body)
            deleted += status != 404
        return REVOKED if deleted else NO_GRANT
