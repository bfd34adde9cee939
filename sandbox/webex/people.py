"""The stand-in's /v1/people and /v1/organizations, with Webex's access rules (§E.3, §I.4).

Only an admin's integration token (`spark-admin:people_read`) lists the organisation, and only
the admin's own organisation; a bot or a person must name someone by `email`, `displayName` or
`id`, or gets Webex's 400. Admin-only
fields appear only to admin tokens, and paging follows RFC 5988: the `Link` header carries an
absolute URL pointing back at this stand-in, which webexpythonsdk follows as is.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from aiohttp import web

from sandbox.webex.model import Person, State, Token, error

DEFAULT_MAX = 100
LARGEST_MAX = 1000
NEEDS_FILTER = "Email, displayName, or id list should be specified."


class PeopleApi:
    """People and the organisation; `max_page_size` lets tests see paging with a small org."""

    def __init__(self, state: State, base_url: Callable[[], str]) -> None:
        self._state = state
        self._base_url = base_url
        self.max_page_size = LARGEST_MAX
        self.flags_as_strings = False  # `loginEnabled: "false"` as Webex's OpenAPI types it
        self._cursors: dict[str, tuple[int, dict[str, str]]] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/people", self._list)
        app.router.add_get("/v1/people/me", self._me)
        app.router.add_get("/v1/people/{person_id}", self._get)
        app.router.add_get("/v1/organizations/{org_id}", self._organization)

    def _admin(self, token: Token) -> bool:
        person = self._state.person(token.person_id)
        return (
            person is not None
            and person.is_admin
            and person.active
            and token.has_admin("spark-admin:people_read")
        )

    def _public(self, person: Person, token: Token) -> dict[str, object]:
        return person.public(
            self._state.org_of(person),
            admin_view=self._admin(token),
            strings=self.flags_as_strings,
        )

    async def _list(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        q = request.query
        try:
            size = int(q.get("max", str(DEFAULT_MAX)))
        except ValueError:
            return error(400, "max must be a number.")
        if not 1 <= size <= LARGEST_MAX:
            return error(400, f"max must be between 1 and {LARGEST_MAX}.")
        offset, filters = 0, {k: q[k] for k in ("email", "displayName", "id") if q.get(k)}
        if cursor := q.get("cursor"):
            if cursor not in self._cursors:
                return error(400, "The cursor is invalid or has expired.")
            offset, filters = self._cursors.pop(cursor)
        if not filters and not self._admin(token):
            if token.has_admin("spark-admin:people_read"):
                return error(403, "Listing people requires an administrator.")
            return error(400, NEEDS_FILTER)
        caller = self._state.person(token.person_id)
        org = self._state.org_of(caller) if caller is not None else self._state.org_id
        matching = [
            p
            for p in self._state.people.values()
            if _matches(p, filters) and (filters or self._state.org_of(p) == org)
        ]
        page_size = min(size, self.max_page_size)
        page = matching[offset : offset + page_size]
        headers = {}
        if offset + page_size < len(matching):
            cursor = secrets.token_urlsafe(18)
            self._cursors[cursor] = (offset + page_size, filters)
            query = urlencode({**filters, "max": size, "cursor": cursor})
            headers["Link"] = f'<{self._base_url()}/v1/people?{query}>; rel="next"'
        items = [self._public(p, token) for p in page]
        return web.json_response({"items": items}, headers=headers)

    async def _me(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        me = self._state.person(token.person_id)
        if me is None:
            return error(404, "Person not found.")
        if token.kind == "user" and "spark:people_read" not in token.scopes:
            return error(403, "The token lacks the spark:people_read scope.")
        return web.json_response(self._public(me, token))

    async def _get(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        person = self._state.person(request.match_info["person_id"])
        if person is None:
            return error(404, "Person not found.")
        return web.json_response(self._public(person, token))

    async def _organization(self, request: web.Request) -> web.Response:
        """Admins only. Which admin scope Webex wants here is not documented precisely, so any
        `spark-admin:` scope of an admin's token is accepted (the adapter copes with a 403)."""
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        person = self._state.person(token.person_id)
        admin_scoped = any(s.startswith("spark-admin:") for s in token.scopes)
        if token.kind != "user" or person is None or not person.is_admin or not admin_scoped:
            return error(403, "Organization details are available to administrators only.")
        org_id = request.match_info["org_id"]
        if org_id != self._state.org_of(person):
            return error(404, "Organization not found.")
        return web.json_response(
            {
                "id": org_id,
                "displayName": self._state.name_of_org(org_id),
                "created": "2020-01-01T00:00:00.000Z",
            }
        )


def _matches(person: Person, filters: dict[str, str]) -> bool:
    if email := filters.get("email"):
        if not person.email or person.email.strip().lower() != email.strip().lower():
            return False
    if name := filters.get("displayName"):
        if not person.display_name.lower().startswith(name.lower()):
            return False
    if ids := filters.get("id"):
        if person.id not in ids.split(","):
            return False
    return True
