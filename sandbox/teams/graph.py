"""The Microsoft Graph stand-in: users, roles, organization, app catalog, installs, grants.

It keeps Graph's traps (platform-apis.md §E.2, §I.14, §I.21, §I.22): `$select` replaces the
default properties, so `accountEnabled` and `userType` appear only when asked for; pages link to
the next by an absolute `@odata.nextLink` with `$skiptoken`; the app token needs the right
application permission for each call (403 `Authorization_RequestDenied` otherwise); `/me` needs
a person's token; grants are filtered by the service principal's id, never the app id.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.teams.state import (
    DEFAULT_USER_PROPERTIES,
    GLOBAL_ADMINISTRATOR,
    MICROSOFT_GRAPH_APP_ID,
    REPORTS_READER,
    TEAMS_ADMINISTRATOR,
    EntraUser,
    IssuedToken,
)

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

# The application permission each route needs (granted to the app by default).
NEEDS = {
    "users": "User.Read.All",
    "organization": "Organization.Read.All",
    "directoryRoles": "RoleManagement.Read.Directory",
    "teamsApps": "AppCatalog.Read.All",
    "installedApps": "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "servicePrincipals": "Application.Read.All",
    "oauth2PermissionGrants": "DelegatedPermissionGrant.ReadWrite.All",
}
GRAPH_APP_PERMISSIONS = frozenset(NEEDS.values())
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$")

Route = Callable[[web.Request, IssuedToken], Any]


def graph_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": "2025-01-01T00:00:00", "request-id": "sandbox"},
            }
        },
        status=status,
    )


def parse_filter(raw: str) -> dict[str, str] | None:
    """`a eq 'x' and b eq 'y'` → {a: x, b: y}; None for anything else the stand-in can't read."""
    clauses: dict[str, str] = {}
    for part in re.split(r"\s+and\s+", raw.strip()) if raw.strip() else []:
        match = _CLAUSE.match(part)
        if match is None:
            return None
        clauses[match.group(1)] = match.group(2)
    return clauses


class GraphApi:
    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox

    def add_routes(self, app: web.Application) -> None:
        get, post = app.router.add_get, app.router.add_post
        get("/v1.0/users", self._wrap("users", self._users))
        get("/v1.0/users/{user_id}", self._wrap("users", self._user))
        get("/v1.0/me", self._wrap("", self._me))
        get("/v1.0/organization", self._wrap("organization", self._organization))
        get("/v1.0/directoryRoles", self._wrap("directoryRoles", self._roles))
        get("/v1.0/directoryRoles/{role_id}/members", self._wrap("directoryRoles", self._members))
        get("/v1.0/appCatalogs/teamsApps", self._wrap("teamsApps", self._catalog))
        install = self._wrap("installedApps", self._install)
        post("/v1.0/users/{user_id}/teamwork/installedApps", install)
        get("/v1.0/servicePrincipals", self._wrap("servicePrincipals", self._principals))
        get("/v1.0/oauth2PermissionGrants", self._wrap("oauth2PermissionGrants", self._grants))
        app.router.add_delete(
            "/v1.0/oauth2PermissionGrants/{grant_id}",
            self._wrap("oauth2PermissionGrants", self._delete_grant),
        )

    def _wrap(self, area: str, route: Route) -> Callable[[web.Request], Any]:
        """Token check first (401), then the app permission the area needs (403)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            token = self._s.bearer(request)
            if isinstance(token, str):
                return graph_error(401, "InvalidAuthenticationToken", token)
            if token.kind not in ("graph", "user"):
                return graph_error(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                )
            if area and (token.kind == "user" or NEEDS[area] not in self._s.app_permissions):
                return graph_error(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            answer: web.StreamResponse = await route(request, token)
            return answer

        return handler

    # -- helpers ------------------------------------------------------------------------------
    def _page(
        self, request: web.Request, path: str, items: list[dict[str, Any]], default_top: int
    ) -> web.Response:
        q = request.query
        try:
            top = int(q.get("$top", default_top))
        except ValueError:
            top = 0
        if not 1 <= top <= 999:
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{q.get('$top')}'. Must be between 1 and 999 "
                "inclusive.",
            )
        try:
            offset = int(base64.urlsafe_b64decode(q.get("$skiptoken", "") + "==") or b"0")
        except ValueError:
            return graph_error(400, "Directory_ExpiredPageToken", "The page token is invalid.")
        size = min(top, self._s.max_page_size)
        body: dict[str, Any] = {
            "@odata.context": f"{self._s.url}/v1.0/$metadata#{path}",
            "value": items[offset : offset + size],
        }
        if offset + size < len(items):
            query = {k: v for k, v in q.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            body["@odata.nextLink"] = (
                f"{self._s.url}/v1.0/{path}?{urllib.parse.urlencode(query, safe='$,')}"
            )
        return web.json_response(body)

    @staticmethod
    def _select(user: EntraUser, raw: str | None) -> dict[str, Any] | str:
        everything = user.properties()
        if raw is None:
            return {k: everything[k] for k in DEFAULT_USER_PROPERTIES}
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in everything]
        if unknown:
            return f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'."
        return {"id": user.id, **{n: everything[n] for n in names}}

    def _filter(self, request: web.Request) -> dict[str, str] | web.Response:
        clauses = parse_filter(request.query.get("$filter", ""))
        if clauses is None:
            return graph_error(400, "BadRequest", "Invalid filter clause")
        return clauses

    # -- users --------------------------------------------------------------------------------
    async def _users(self, request: web.Request, token: IssuedToken) -> web.Response:
        selected: list[dict[str, Any]] = []
        for user in self._s.users.values():
            shown = self._select(user, request.query.get("$select"))
            if isinstance(shown, str):
                return graph_error(400, "Request_BadRequest", shown)
            selected.append(shown)
        return self._page(request, "users", selected, default_top=100)

    async def _user(self, request: web.Request, token: IssuedToken) -> web.Response:
        user = self._s.users.get(request.match_info["user_id"])
        if user is None:
            return graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{request.match_info['user_id']}' does not exist or one of its "
                "queried reference-property objects are not present.",
            )
        shown = self._select(user, request.query.get("$select"))
        if isinstance(shown, str):
            return graph_error(400, "Request_BadRequest", shown)
        return web.json_response(shown)

    async def _me(self, request: web.Request, token: IssuedToken) -> web.Response:
        if token.kind != "user":
            return graph_error(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        shown = self._select(self._s.users[token.user_id], request.query.get("$select"))
        if isinstance(shown, str):
            return graph_error(400, "Request_BadRequest", shown)
        return web.json_response(shown)

    async def _organization(self, request: web.Request, token: IssuedToken) -> web.Response:
        org = {
            "id": self._s.tenant_id,
            "displayName": self._s.org_name,
            "tenantType": "AAD",
            "verifiedDomains": [{"name": self._s.domain, "isDefault": True, "isInitial": True}],
        }
        return web.json_response({"value": [org]})

    # -- directory roles ----------------------------------------------------------------------
    def _role_members(self) -> dict[str, tuple[str, list[dict[str, Any]]]]:
        """Activated roles: template id → (display name, members). The Teams Administrator
        role holds a service principal, which is not a person."""
        admins = [u for u in self._s.users.values() if u.is_admin]
        readers = [u for u in self._s.users.values() if not u.is_admin][:1]

        def as_member(user: EntraUser) -> dict[str, Any]:
            return {"@odata.type": "#microsoft.graph.user", **user.properties()}

        robot = {
            "@odata.type": "#microsoft.graph.servicePrincipal",
            "id": self._s.service_principal_id,
            "displayName": "Provisioning robot",
        }
        return {
            GLOBAL_ADMINISTRATOR: ("Global Administrator", [as_member(u) for u in admins]),
            TEAMS_ADMINISTRATOR: ("Teams Administrator", [robot]),
            REPORTS_READER: ("Reports Reader", [as_member(u) for u in readers]),
        }

    @staticmethod
    def _role_id(template: str) -> str:
        return "r" + template[1:]  # a role object's id differs from its template id

    async def _roles(self, request: web.Request, token: IssuedToken) -> web.Response:
        roles = [
            {"id": self._role_id(t), "displayName": name, "roleTemplateId": t, "description": ""}
            for t, (name, _) in self._role_members().items()
        ]
        return web.json_response({"value": roles})

    async def _members(self, request: web.Request, token: IssuedToken) -> web.Response:
        for template, (_, members) in self._role_members().items():
            if self._role_id(template) == request.match_info["role_id"]:
                return self._page(request, "directoryObjects", members, default_top=100)
        return graph_error(404, "Request_ResourceNotFound", "The directory role does not exist.")

    # -- Teams app catalog and installs -------------------------------------------------------
    async def _catalog(self, request: web.Request, token: IssuedToken) -> web.Response:
        clauses = self._filter(request)
        if isinstance(clauses, web.Response):
            return clauses
        app = {
            "id": self._s.catalog_id,
            "externalId": self._s.app_id,
            "displayName": self._s.bot_name,
            "distributionMethod": "organization",
        }
        matches = self._s.app_in_catalog and all(app.get(k) == v for k, v in clauses.items())
        return web.json_response({"value": [app] if matches else []})

    async def _install(self, request: web.Request, token: IssuedToken) -> web.Response:
        user_id = request.match_info["user_id"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        bind = body.get("teamsApp@odata.bind") if isinstance(body, Mapping) else None
        if not isinstance(bind, str) or not bind.rstrip("/").endswith(
            f"/appCatalogs/teamsApps/{self._s.catalog_id}"
        ):
            # Binding the manifest id instead of the catalog id is refused (§I.21).
            return graph_error(400, "BadRequest", "Invalid teamsApp@odata.bind value.")
        if user_id not in self._s.users:
            return graph_error(404, "NotFound", f"User '{user_id}' was not found.")
        if user_id in self._s.installed:
            return graph_error(409, "Conflict", "App is already installed for this user.")
        self._s.installed.add(user_id)
        self._s.installs.append(user_id)
        return web.Response(status=201)

    # -- service principals and delegated grants ----------------------------------------------
    async def _principals(self, request: web.Request, token: IssuedToken) -> web.Response:
        clauses = self._filter(request)
        if isinstance(clauses, web.Response):
            return clauses
        principals = [
            {"id": self._s.service_principal_id, "appId": self._s.app_id, "displayName": "Mio"},
            {
                "id": self._s.graph_principal_id,
                "appId": MICROSOFT_GRAPH_APP_ID,
                "displayName": "Microsoft Graph",
            },
        ]
        found = [p for p in principals if all(p.get(k) == v for k, v in clauses.items())]
        return web.json_response({"value": found})

    async def _grants(self, request: web.Request, token: IssuedToken) -> web.Response:
        clauses = self._filter(request)
        if isinstance(clauses, web.Response):
            return clauses
        found = [
            g.resource()
            for g in self._s.grants.values()
            if all(g.resource().get(k) == v for k, v in clauses.items())
        ]
        return web.json_response({"value": found})

    async def _delete_grant(self, request: web.Request, token: IssuedToken) -> web.Response:
        grant = self._s.grants.pop(request.match_info["grant_id"], None)
        if grant is None:
            return graph_error(404, "Request_ResourceNotFound", "The grant does not exist.")
        self._s.deleted_grants.append(grant)
        return web.Response(status=204)
