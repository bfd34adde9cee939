"""One Entra user by object id, for a caller Mio never imported (`GET /users/{id}`, §E.2).

The same `$select` as the directory walk (`accountEnabled` and `userType` come back only when
selected), and the same admin rule: membership of the Teams or Global Administrator role,
which Graph reports only through `/directoryRoles/{id}/members`. A deleted user leaves `/users`
(§E.2), so Graph's 404 means "nobody by that id".
"""

from __future__ import annotations

import urllib.parse

from adapters.paging import Pace, Pacer
from adapters.retry import patiently
from adapters.teams.client import AppToken
from adapters.teams.directory import USER_FIELDS, GraphDirectory, directory_user
from adapters.teams.errors import to_platform_error
from bot.platform import LOOKUP_ATTEMPTS, LOOKUP_LONGEST_WAIT
from bot.types import DirectoryUser, PlatformUserId


class GraphLookup:
    def __init__(
        self, graph: AppToken, graph_url: str, directory: GraphDirectory, pace: Pace
    ) -> None:
        self._graph = graph
        self._pace = pace
        self._url = graph_url
        self._directory = directory

    async def user(self, user_id: PlatformUserId) -> DirectoryUser | None:
        url = self._url + "users/" + urllib.parse.quote(user_id, safe="")

        async def fetch() -> object:
            status, headers, body = await self._graph.authorized(
                "GET", url, params={"$select": USER_FIELDS}
            )
            if status == 404:
                return None
            if status != 200 or not isinstance(body, dict) or not body.get("id"):
                raise to_platform_error(status, headers, body)
            return body

        found = await patiently(fetch, attempts=LOOKUP_ATTEMPTS, longest_wait=LOOKUP_LONGEST_WAIT)
        if not isinstance(found, dict):
            return None
        # The role walk pages like the import does, so it waits out 429s the same way.
        admins = await self._directory.admin_ids(Pacer(self._pace))
        return directory_user(found, admins)
