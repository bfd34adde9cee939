"""Proactive 1:1 messages through the Bot Connector, installing the app first when needed.

Teams lets a bot message only people who have its app (§B.2, §I.3): creating the 1:1 chat for
anyone else answers 403 `ForbiddenOperationException`. Then the app is installed for them in
personal scope through Graph — which needs the org catalog's id for our app, not the manifest id
(§I.21) — and the chat is created once more. An install answered 409 was already done.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections import OrderedDict
from typing import Any

from adapters.teams.client import AppToken
from adapters.teams.errors import NOT_INSTALLED_CODES, PLATFORM, error_code, to_platform_error
from bot.types import PermanentFailure, RetryLater

log = logging.getLogger(__name__)

INSTALL_SETTLE_RETRY = 30.0  # Teams may need a moment after an install before the chat exists
CONVERSATION_CACHE_SIZE = 10_000


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Connector:
    """Bot Connector calls for one bot, plus the Graph install that makes a DM possible."""

    def __init__(
        self,
        *,
        bot: AppToken,
        graph: AppToken,
        app_id: str,
        tenant_id: str,
        graph_url: str,
    ) -> None:
        self._bot = bot
        self._graph = graph
        self._app_id = app_id
        self._tenant_id = tenant_id
        self._graph_url = graph_url
        self._catalog_id: str | None = None
        # Creating a 1:1 chat is idempotent but costs a call under the same per-thread limit as
        # the message itself; remembering the answer halves the calls (a cache, not state).
        self._chats: OrderedDict[str, str] = OrderedDict()

    # -- conversations ---------------------------------------------------------------------
    async def _create(self, service_url: str, user_id: str) -> tuple[int, Any, Any]:
        body = {
            "isGroup": False,
            "bot": {"id": f"28:{self._app_id}"},
            "members": [{"id": user_id}],  # the Entra object id works here (§I.21)
            "channelData": {"tenant": {"id": self._tenant_id}},
            "tenantId": self._tenant_id,
        }
        status, headers, answer = await self._bot.authorized(
            "POST", f"{service_url}v3/conversations", json=body
        )
        return status, headers, answer

    async def conversation(self, service_url: str, user_id: str) -> str:
        """The id of the bot's 1:1 chat with `user_id`, installing the app for them if needed."""
        key = f"{service_url}|{user_id}"
        if key in self._chats:
            self._chats.move_to_end(key)
            return self._chats[key]
        status, headers, answer = await self._create(service_url, user_id)
        if self._not_installed(status, answer):
            await self.install(user_id)
            status, headers, answer = await self._create(service_url, user_id)
            if self._not_installed(status, answer):
                raise RetryLater(
                    PLATFORM,
                    "installed the Mio app for the person; Teams has not opened the chat yet",
                    after=INSTALL_SETTLE_RETRY,
                )
        if status not in (200, 201, 202):
            raise to_platform_error(status, headers, answer)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise to_platform_error(502, {}, {"message": "create conversation answered no id"})
        self._chats[key] = str(answer["id"])
        if len(self._chats) > CONVERSATION_CACHE_SIZE:
            self._chats.popitem(last=False)
        return self._chats[key]

    def forget(self, service_url: str, user_id: str) -> None:
        """Drop a remembered chat (after Teams said it is gone or blocked)."""
        self._chats.pop(f"{service_url}|{user_id}", None)

    @staticmethod
    def _not_installed(status: int, answer: Any) -> bool:
        code, _ = error_code(answer)
        return (status == 403 and code in NOT_INSTALLED_CODES) or (
            status == 404 and code not in ("ConversationNotFound", "ActivityNotFoundInConversation")
        )

    # -- installing the app for a person (Graph) -------------------------------------------
    async def catalog_id(self) -> str:
        """Our app's id in the org catalog, looked up by the manifest id (= TEAMS_APP_ID)."""
        if self._catalog_id is None:
            body = await self._graph.expect(
                "GET",
                f"{self._graph_url}appCatalogs/teamsApps",
                params={"$filter": f"externalId eq '{self._app_id}'"},
            )
            apps = body.get("value") if isinstance(body, dict) else None
            if not apps or not isinstance(apps[0], dict) or not apps[0].get("id"):
                raise PermanentFailure(
                    PLATFORM,
                    "the Mio app is not in the organisation's Teams app catalog: upload "
                    "manifests/teams as an org app (its id must equal TEAMS_APP_ID)",
                )
            self._catalog_id = str(apps[0]["id"])
        return self._catalog_id

    async def install(self, user_id: str) -> None:
        """Install the app in `user_id`'s personal scope; 409 means it already is."""
        catalog_id = await self.catalog_id()
        body = {"teamsApp@odata.bind": f"{self._graph_url}appCatalogs/teamsApps/{catalog_id}"}
        status, headers, answer = await self._graph.authorized(
            "POST", f"{self._graph_url}users/{_quote(user_id)}/teamwork/installedApps", json=body
        )
        if status == 409:
            log.info("teams: app already installed for %s", user_id)
            return
        if status not in (200, 201, 204):
            raise to_platform_error(status, headers, answer)
        log.info("teams: installed the app for %s", user_id)

    # -- activities ------------------------------------------------------------------------
    async def deliver(
        self, service_url: str, user_id: str, activity: dict[str, Any]
    ) -> tuple[str, str]:
        """A new message in the 1:1 chat with `user_id`: (conversation id, activity id).

        A remembered chat that Teams no longer knows (the app was uninstalled since) is
        forgotten and the whole way, install included, is taken once more.
        """
        for attempt in range(2):
            cached = f"{service_url}|{user_id}" in self._chats
            conversation_id = await self.conversation(service_url, user_id)
            status, headers, answer = await self._post(service_url, conversation_id, activity)
            if status in (200, 201, 202):
                if not isinstance(answer, dict) or not answer.get("id"):
                    raise to_platform_error(502, {}, {"message": "send answered no id"})
                return conversation_id, str(answer["id"])
            self.forget(service_url, user_id)
            if not (attempt == 0 and cached and self._not_installed(status, answer)):
                raise to_platform_error(status, headers, answer)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _post(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> tuple[int, Any, Any]:
        url = f"{service_url}v3/conversations/{_quote(conversation_id)}/activities"
        return await self._bot.authorized("POST", url, json=activity)

    async def send(self, service_url: str, conversation_id: str, activity: dict[str, Any]) -> str:
        """A new message in a known conversation (an answer to a command); its activity id."""
        status, headers, answer = await self._post(service_url, conversation_id, activity)
        if status not in (200, 201, 202):
            raise to_platform_error(status, headers, answer)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise to_platform_error(502, {}, {"message": "send activity answered no id"})
        return str(answer["id"])

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        url = (
            f"{service_url}v3/conversations/{_quote(conversation_id)}"
            f"/activities/{_quote(activity_id)}"
        )
        status, headers, answer = await self._bot.authorized(
            "PUT", url, json={**activity, "id": activity_id}
        )
        if status not in (200, 201, 202):
            raise to_platform_error(status, headers, answer)

    async def check_token(self) -> None:
        """Fetch the bot's connector token: proves TEAMS_APP_ID/PASSWORD/TENANT_ID."""
        await self._bot.get()
