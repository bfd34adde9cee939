"""The stand-in's /v1/messages and /v1/attachment/actions, with Webex's refusals.

Cards are checked as Webex renders them (§B.3, §I.5): one Adaptive Card per message, schema
1.3 at most, no more than five actions, no `Action.Execute`, and a `text` or `markdown`
fallback. A message with a card cannot be edited (400), replies cannot have replies, and every
message created (the bot's own too) fires `messages:created` after the API has answered.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from sandbox.webex.model import (
    AttachmentAction,
    Person,
    Room,
    SandboxMessage,
    State,
    Token,
    error,
    hydra_id,
    read_json,
)
from sandbox.webex.webhooks import WebhookRegistry

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_ACTIONS = {"Action.Submit", "Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"}
MAX_CARD_ACTIONS = 5
MAX_TEXT_BYTES = 7439
MAX_EDITS = 10


def card_problem(attachments: Any) -> str | None:
    """Why Webex would refuse these attachments, or None."""
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "Only one attachment per message is supported."
    attachment = attachments[0]
    content = attachment.get("content") if isinstance(attachment, dict) else None
    if attachment.get("contentType") != CARD_TYPE or not isinstance(content, dict):
        return f"Attachments must be {CARD_TYPE} with a content object."
    if content.get("type") != "AdaptiveCard":
        return "The card content must be of type AdaptiveCard."
    try:
        version = tuple(int(part) for part in str(content.get("version", "")).split("."))
    except ValueError:
        return f"Invalid card version {content.get('version')!r}."
    if version > (1, 3):
        return f"Adaptive Card version {content.get('version')} is not supported; use 1.3."
    actions = content.get("actions") or []
    if len(actions) > MAX_CARD_ACTIONS:
        return f"A card can have at most {MAX_CARD_ACTIONS} actions."
    for action in actions:
        if not isinstance(action, dict) or action.get("type") not in CARD_ACTIONS:
            kind = action.get("type") if isinstance(action, dict) else action
            return f"Action type {kind} is not supported."
    return None


class MessagesApi:
    """Messages in the organisation's spaces, as the bot and the people see them."""

    def __init__(self, state: State, hooks: WebhookRegistry) -> None:
        self._state = state
        self._hooks = hooks

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._create)
        app.router.add_get("/v1/messages/{message_id}", self._get)
        app.router.add_put("/v1/messages/{message_id}", self._edit)
        app.router.add_delete("/v1/messages/{message_id}", self._delete)
        app.router.add_get("/v1/attachment/actions/{action_id}", self._get_action)

    # -- acting ------------------------------------------------------------------------------
    def post(
        self,
        author: Person,
        room: Room,
        *,
        text: str = "",
        markdown: str = "",
        attachments: list[dict[str, Any]] | None = None,
        parent_id: str = "",
        mentions: tuple[str, ...] = (),
    ) -> SandboxMessage:
        """Store a message; the caller decides when its `messages:created` goes out."""
        html = ""
        if mentions:
            names = {p: (self._state.person(p) or author).display_name for p in mentions}
            spans = "".join(
                f'<spark-mention data-object-type="person" data-object-id="{p}">{n}'
                "</spark-mention> "
                for p, n in names.items()
            )
            html = f"<p>{spans}{text}</p>"
            text = " ".join(names.values()) + " " + text
        message = SandboxMessage(
            id=hydra_id("MESSAGE", str(uuid.uuid4())),
            room_id=room.id,
            room_type=room.type,
            person_id=author.id,
            person_email=author.email or "",
            text=text,
            markdown=markdown,
            html=html,
            attachments=list(attachments or []),
            parent_id=parent_id,
            mentioned_people=list(mentions),
        )
        self._state.messages[message.id] = message
        return message

    @staticmethod
    def event_data(message: SandboxMessage) -> dict[str, Any]:
        """The `data` of a `messages:created` delivery: ids only, never the text (§A.3)."""
        data: dict[str, Any] = {
            "id": message.id,
            "roomId": message.room_id,
            "roomType": message.room_type,
            "personId": message.person_id,
            "personEmail": message.person_email,
            "created": message.created,
        }
        if message.mentioned_people:
            data["mentionedPeople"] = list(message.mentioned_people)
        return data

    # -- REST --------------------------------------------------------------------------------
    def _visible(self, token: Token, message: SandboxMessage | None) -> bool:
        room = self._state.rooms.get(message.room_id) if message else None
        return (
            message is not None
            and not message.deleted
            and room is not None
            and (token.person_id in room.members)
        )

    def _recipient(self, token: Token, body: dict[str, Any]) -> Room | web.Response:
        targets = [k for k in ("roomId", "toPersonId", "toPersonEmail") if body.get(k)]
        if len(targets) != 1:
            return error(400, "Exactly one of roomId, toPersonId or toPersonEmail is required.")
        if targets[0] == "roomId":
            room = self._state.rooms.get(str(body["roomId"]))
            if room is None or token.person_id not in room.members:
                return error(404, "Could not find a room with the provided ID.")
            return room
        if targets[0] == "toPersonId":
            person = self._state.people.get(str(body["toPersonId"]))
        else:
            person = self._state.by_email(str(body["toPersonEmail"]))
        if person is None or person.id == token.person_id:
            return error(404, "Could not find a person with the provided ID or email.")
        if not person.active:
            return error(400, "The recipient's account is deactivated or not yet activated.")
        # A person's token writes in their own 1:1 with the recipient (relay-apis §3.2).
        return self._state.pair_room(token.person_id, person.id)

    async def _create(self, request: web.Request) -> web.Response:
        token = self._state.scoped(request, "spark:messages_write")
        if isinstance(token, web.Response):
            return token
        body = await read_json(request)
        if body is None:
            return error(400, "The request body must be a JSON object.")
        room = self._recipient(token, body)
        if isinstance(room, web.Response):
            return room
        text, markdown = str(body.get("text") or ""), str(body.get("markdown") or "")
        if not text and not markdown:
            return error(400, "Message text or markdown is required, also as a card's fallback.")
        if len((markdown or text).encode()) > MAX_TEXT_BYTES:
            return error(400, f"Message text is longer than {MAX_TEXT_BYTES} bytes.")
        attachments = body.get("attachments")
        if attachments is not None and (problem := card_problem(attachments)):
            return error(400, problem)
        parent_id = str(body.get("parentId") or "")
        if parent_id:
            parent = self._state.messages.get(parent_id)
            if not self._visible(token, parent) or parent is None or parent.room_id != room.id:
                return error(404, "The parent message was not found in this room.")
            if parent.parent_id:
                return error(
                    400, "A reply cannot have replies; reply to the thread's first message."
                )
        author = self._state.person(token.person_id)
        assert author is not None
        message = self.post(
            author,
            room,
            text=text,
            markdown=markdown,
            attachments=attachments,
            parent_id=parent_id,
        )
        message.by_app = True
        self._hooks.fire_later("messages", self.event_data(message), room, author.id)
        answer = message.public()
        for key in ("toPersonId", "toPersonEmail"):
            if body.get(key):
                answer[key] = body[key]
        return web.json_response(answer)

    async def _get(self, request: web.Request) -> web.Response:
        token = self._state.scoped(request, "spark:messages_read")
        if isinstance(token, web.Response):
            return token
        message = self._state.messages.get(request.match_info["message_id"])
        if message is None or not self._visible(token, message):
            return error(404, "Could not find a message with the provided ID.")
        return web.json_response(message.public())

    async def _edit(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        message = self._state.messages.get(request.match_info["message_id"])
        if message is None or not self._visible(token, message):
            return error(404, "Could not find a message with the provided ID.")
        body = await read_json(request)
        if body is None or body.get("roomId") != message.room_id:
            return error(400, "roomId is required and must be the message's room.")
        if not body.get("text") and not body.get("markdown"):
            return error(400, "Message text or markdown is required.")
        if message.person_id != token.person_id:
            return error(403, "Only the author of a message can edit it.")
        if message.attachments:
            return error(400, "Editing a message with attachments or files is not supported.")
        if message.edits >= MAX_EDITS:
            return error(400, f"A message can be edited at most {MAX_EDITS} times.")
        message.text = str(body.get("text") or body.get("markdown"))
        message.markdown = str(body.get("markdown") or "")
        message.edits += 1
        return web.json_response(message.public())

    async def _delete(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        message = self._state.messages.get(request.match_info["message_id"])
        if message is None or not self._visible(token, message):
            return error(404, "Could not find a message with the provided ID.")
        if message.person_id != token.person_id:
            return error(403, "Only the author of a message can delete it.")
        message.deleted = True
        return web.Response(status=204)

    async def _get_action(self, request: web.Request) -> web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        action = self._state.actions.get(request.match_info["action_id"])
        room = self._state.rooms.get(action.room_id) if action else None
        if action is None or room is None or token.person_id not in room.members:
            return error(404, "Could not find an attachment action with the provided ID.")
        return web.json_response(action.public())

    def press(
        self, person: Person, message: SandboxMessage, inputs: dict[str, Any]
    ) -> AttachmentAction:
        """Record a card submit by `person`; the caller fires `attachmentActions:created`."""
        action = AttachmentAction(
            id=hydra_id("ATTACHMENT_ACTION", str(uuid.uuid4())),
            message_id=message.id,
            room_id=message.room_id,
            person_id=person.id,
            inputs=inputs,
        )
        self._state.actions[action.id] = action
        return action
