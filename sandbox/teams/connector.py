"""The Bot Connector stand-in: 1:1 chats, sending and editing the bot's activities.

Its refusals are Teams' own (msteams-docs "Status codes from bot conversational APIs",
platform-apis.md §B.2, §I.20, §I.21): 401 without a connector token, 403
`ForbiddenOperationException` for someone who never installed the app, the two "blocked"
shapes, 404 for unknown chats and activities, 400 `BadArgument` for cards Teams would not
render, 413 for oversized messages.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.teams.state import CARD_CONTENT_TYPE, ChatActivity

if TYPE_CHECKING:
    from sandbox.teams.service import TeamsSandbox

MAX_ACTIVITY_BYTES = 28_000
CARD_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
CARD_ACTIONS = (
    "Action.Submit",
    "Action.OpenUrl",
    "Action.Execute",
    "Action.ShowCard",
    "Action.ToggleVisibility",
)
DENIED = {"message": "Authorization has been denied for this request."}
# Where the Connector says Web Chat and Direct Line conversations live (their `serviceUrl`).
WEBCHAT_SERVICE_URL = "https://webchat.botframework.com/"


def connector_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def writes_blocked() -> web.Response:
    """The documented shape: the subCode sits inside a JSON *string* (§I.20)."""
    inner = {
        "subCode": "MessageWritesBlocked",
        "details": "Thread is blocked from message writes.",
        "errorCode": None,
        "errorSubCode": None,
    }
    return web.json_response({"errorCode": 209, "message": json.dumps(inner, indent=2)}, status=403)


def card_problem(activity: Any) -> str | None:
    """Why Teams would refuse this activity, or None."""
    if not isinstance(activity, dict) or activity.get("type") != "message":
        return "Activity must be a JSON object of type 'message'."
    attachments = activity.get("attachments") or []
    if not activity.get("text") and not attachments:
        return "Activity must have text or attachments."
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
            continue
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "Adaptive card content must be of type AdaptiveCard."
        if card.get("version") not in CARD_VERSIONS:
            return f"Adaptive card version {card.get('version')!r} is not supported."
        if not isinstance(card.get("body", []), list) or not isinstance(
            card.get("actions", []), list
        ):
            return "Adaptive card body and actions must be arrays."
        for action in card.get("actions", []):
            kind = action.get("type") if isinstance(action, dict) else None
            if kind not in CARD_ACTIONS:
                return f"Unknown adaptive card action type {kind!r}."
            if kind == "Action.OpenUrl" and not str(action.get("url", "")).startswith("http"):
                return "Action.OpenUrl needs an absolute url."
    if len(json.dumps(activity)) > MAX_ACTIVITY_BYTES:
        return "too big"
    return None


def _field(data: Any, *path: str) -> Any:
    """A nested value, or "" where the path leaves the JSON objects."""
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return "" if data is None else data


class ConnectorApi:
    def __init__(self, sandbox: TeamsSandbox) -> None:
        self._s = sandbox

    def add_routes(self, app: web.Application) -> None:
        base = "/{region}/v3/conversations"
        app.router.add_post(base, self._create)
        app.router.add_post(base + "/{cid}/activities", self._send)
        app.router.add_post(base + "/{cid}/activities/{aid}", self._send)
        app.router.add_put(base + "/{cid}/activities/{aid}", self._update)
        app.router.add_delete(base + "/{cid}/activities/{aid}", self._delete)

    def _authorized(self, request: web.Request) -> bool:
        token = self._s.bearer(request)
        return not isinstance(token, str) and token.kind == "connector"

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    # -- conversations -------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(DENIED, status=401)
        body = await self._json(request)
        if not isinstance(body, dict):
            return connector_error(400, "BadArgument", "Request body is not a conversation.")
        if str(_field(body, "bot", "id")).removeprefix("28:") != self._s.app_id:
            return connector_error(400, "BadArgument", "Bot id does not match the token.")
        tenant = body.get("tenantId") or _field(body, "channelData", "tenant", "id")
        if tenant != self._s.tenant_id:
            return connector_error(400, "BadArgument", "Invalid or missing tenant id.")
        members = body.get("members")
        if not isinstance(members, list) or len(members) != 1 or not isinstance(members[0], dict):
            return connector_error(400, "BadArgument", "Exactly one member is needed.")
        user_id = self._s.resolve_member(str(members[0].get("id") or ""))
        if user_id is None:  # an unknown id, or aadObjectId alone (§I.21)
            return connector_error(400, "BadArgument", "Invalid user identity in provided tenant.")
        if user_id not in self._s.installed:
            return connector_error(
                403, "ForbiddenOperationException", "Bot is not installed in user's personal scope"
            )
        return web.json_response({"id": self._s.conversation_for(user_id)}, status=201)

    # -- activities ---------------------------------------------------------------------------
    def _refusal(self, request: web.Request) -> web.Response | str:
        """The chat's owner, or why the bot may not write there."""
        if not self._authorized(request):
            return web.json_response(DENIED, status=401)
        user_id = self._s.conversation_user(request.match_info["cid"])
        if user_id is None:
            return connector_error(404, "ConversationNotFound", "Conversation not found.")
        blocked = self._s.blocked.get(user_id)
        if blocked == "conversation":
            return connector_error(
                403, "ConversationBlockedByUser", "User blocked the conversation with the bot."
            )
        if blocked is not None or user_id not in self._s.installed:
            return writes_blocked()  # blocked, or uninstalled since (§B.2)
        return user_id

    async def _checked(self, request: web.Request) -> tuple[str, dict[str, Any]] | web.Response:
        owner = self._refusal(request)
        if isinstance(owner, web.Response):
            return owner
        activity = await self._json(request)
        problem = card_problem(activity)
        if problem == "too big":
            return connector_error(413, "MessageSizeTooBig", "Message size too large.")
        if problem is not None:
            return connector_error(400, "BadArgument", problem)
        return owner, activity

    async def _send(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        user_id, activity = checked
        message = ChatActivity(
            id=self._s.new_activity_id(),
            conversation_id=request.match_info["cid"],
            user_id=user_id,
            from_bot=True,
            timestamp=self._s.timestamp(),
            text=str(activity.get("text") or ""),
            summary=str(activity.get("summary") or ""),
            attachments=list(activity.get("attachments") or []),
            reply_to_id=request.match_info.get("aid") or activity.get("replyToId"),
            text_format=str(activity.get("textFormat") or "plain"),
        )
        self._s.activities[message.id] = message
        return web.json_response({"id": message.id}, status=201)

    def _own_activity(self, request: web.Request) -> ChatActivity | None:
        message = self._s.activities.get(request.match_info["aid"])
        if message is None or message.conversation_id != request.match_info["cid"]:
            return None
        return message if message.from_bot else None

    async def _update(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        _, activity = checked
        message = self._own_activity(request)
        if message is None:
            return connector_error(404, "ActivityNotFoundInConversation", "Conversation not found.")
        message.text = str(activity.get("text") or "")
        message.summary = str(activity.get("summary") or "")
        message.attachments = list(activity.get("attachments") or [])
        message.edited += 1
        return web.json_response({"id": message.id})

    async def _delete(self, request: web.Request) -> web.Response:
        owner = self._refusal(request)
        if isinstance(owner, web.Response):
            return owner
        message = self._own_activity(request)
        if message is None:
            return connector_error(404, "ActivityNotFoundInConversation", "Conversation not found.")
        del self._s.activities[message.id]
        return web.json_response({})


def webchat_activity(sandbox: TeamsSandbox, text: str, **chosen: Any) -> dict[str, Any]:
    """A message typed in the same bot's Web Chat (or Direct Line) channel.

    The Connector relays it with a token from its usual keys, which are endorsed for `webchat`
    as much as for `msteams` (see keys.py). Whoever embeds Web Chat picks `from` and
    `channelData` freely, so `chosen` fields (an `aadObjectId`, a tenant) pass through as sent.
    Sign it with `sandbox.make_token(serviceurl=WEBCHAT_SERVICE_URL)`.
    """
    activity: dict[str, Any] = {
        "type": "message",
        "id": sandbox.new_activity_id(),
        "timestamp": sandbox.timestamp(),
        "channelId": "webchat",
        "serviceUrl": WEBCHAT_SERVICE_URL,
        "from": {"id": "dl_visitor", "name": "Visitor"},
        "conversation": {"id": "DLconv-1"},
        "recipient": {"id": f"{sandbox.bot_name}@abc", "name": sandbox.bot_name},
        "text": text,
        "textFormat": "plain",
    }
    return activity | chosen
