"""The tenant's people through Microsoft Graph, with the app's own token (§E.2, §I.14).

`accountEnabled` and `userType` come back only when `$select`-ed, and `$select` replaces the
default set, so every property we read is named. Users carry no admin flag: admins are the
members of the activated directory roles that administer Teams (found by role template id, which
is the same in every tenant). Bots are service principals and never appear in `/users`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from adapters.paging import Pacer, fetch_page
from adapters.teams.client import AppToken
from adapters.teams.errors import PLATFORM, to_platform_error
from bot.types import DirectoryUser, PlatformUserId

USER_FIELDS = "id,displayName,mail,userPrincipalName,accountEnabled,userType"
PAGE_SIZE = "999"  # Graph's maximum for /users
# Role template ids (Microsoft Entra built-in roles): who may run Mio's admin commands.
ADMIN_ROLE_TEMPLATES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "69091246-20e8-4a56-aa4d-066075b2a7a8": "Teams Administrator",
}
USER_TYPE = "#microsoft.graph.user"


def email_of(user: Mapping[str, Any]) -> str | None:
    """`mail`, else the UPN — unless that is a guest's `…#EXT#@tenant` name, no address at all."""
    mail = user.get("mail")
    if isinstance(mail, str) and mail.strip():
        return mail
    upn = user.get("userPrincipalName")
    if isinstance(upn, str) and upn.strip() and "#EXT#" not in upn.upper():
        return upn
    return None


def directory_user(user: Mapping[str, Any], admins: frozenset[str]) -> DirectoryUser:
    user_id = str(user["id"])
    email = email_of(user)
    return DirectoryUser(
        platform=PLATFORM,
        user_id=PlatformUserId(user_id),
        email=email,
        display_name=str(user.get("displayName") or email or user_id),
        is_bot=False,
        is_guest=str(user.get("userType") or "").lower() == "guest",
        is_active=user.get("accountEnabled") is not False,
        is_admin=user_id in admins,
    )


class GraphDirectory:
    """`/users`, `/directoryRoles` and `/organization`, paged by `@odata.nextLink`."""

    def __init__(self, graph: AppToken, graph_url: str) -> None:
        self._graph = graph
        self._url = graph_url

    async def pages(
        self, path: str, pacer: Pacer, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's `value`; the next page is the absolute URL Graph hands back.

        A 429 or 5xx asks for the same URL again once Graph's Retry-After has passed.
        """
        url: str | None = self._url + path
        query = dict(params) if params else None
        while url:
            body = await fetch_page(self._get(url, query), pacer, "Teams")
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise to_platform_error(502, {}, {"message": f"{path} answered no value list"})
            yield [item for item in body["value"] if isinstance(item, dict)]
            next_link = body.get("@odata.nextLink")
            url = next_link if isinstance(next_link, str) and next_link else None
            query = None  # the next link carries the whole query, $skiptoken included

    def _get(self, url: str, query: Mapping[str, str] | None) -> Callable[[], Awaitable[Any]]:
        return lambda: self._graph.expect("GET", url, params=query)

    async def organization(self) -> tuple[str, str]:
        """(tenant id, organisation name): one call that also proves the Graph token works."""
        body = await self._graph.expect(
            "GET", self._url + "organization", params={"$select": "id,displayName"}
        )
        orgs = body.get("value") if isinstance(body, dict) else None
        if not orgs or not isinstance(orgs[0], dict):
            raise to_platform_error(502, {}, {"message": "/organization answered no organization"})
        return str(orgs[0].get("id") or ""), str(orgs[0].get("displayName") or "")

    async def admin_ids(self, pacer: Pacer) -> frozenset[str]:
        """Users holding an activated admin role (service principals in a role are skipped)."""
        admins: set[str] = set()
        async for roles in self.pages("directoryRoles", pacer):
            for role in roles:
                if str(role.get("roleTemplateId") or "") not in ADMIN_ROLE_TEMPLATES:
                    continue
                async for members in self.pages(f"directoryRoles/{role['id']}/members", pacer):
                    admins.update(
                        str(m["id"])
                        for m in members
                        if m.get("id") and m.get("@odata.type", USER_TYPE) == USER_TYPE
                    )
        return frozenset(admins)

    async def users(self, pacer: Pacer) -> AsyncIterator[list[DirectoryUser]]:
        admins = await self.admin_ids(pacer)
        fields = {"$select": USER_FIELDS, "$top": PAGE_SIZE}
        async for page in self.pages("users", pacer, fields):
            users = [directory_user(u, admins) for u in page if u.get("id")]
            if users:
                yield users
