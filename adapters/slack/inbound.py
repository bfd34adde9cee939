"""Slack's signed deliveries (slash command, button press, DM) → neutral events, through Bolt.

Bolt verifies the signature, answers url_verification and ssl_check, and routes; this module
only translates. The app runs with `process_before_response=True` so the core's edge has
committed before Slack gets its 200: without it Bolt acks Events API deliveries first and runs
the listener afterwards, and a crash in between would lose the DM. Every listener calls `ack`
only after the edge has returned. When the edge wants a DM again (`Redeliver`), the listener
raises `RedeliveryWanted` before any ack: Bolt then answers 500, and Slack retries the event.

The relay (issue 10) adds user events: `message.im` "on behalf of users" (a DM between two
people, seen through the one authorization Slack lists) becomes a `DmSeen`; a message typed
to the bot carries its prose and thread for the core to relay; `tokens_revoked` and
`app_uninstalled` become `AccessRevoked`. The translation itself is in `user_events.py`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import SLACK, slack_call
from adapters.slack.relay_text import parse
from adapters.slack.render import LINK_ACTION_PREFIX, fallback_text, render_blocks
from adapters.slack.user_events import (
    access_revoked,
    authorization,
    delivery_id,
    dm_seen,
    is_own_echo,
)
from bot.platform import EventHandler
from bot.types import (
    ButtonPress,
    InboundCommand,
    Message,
    MessageRef,
    Outcome,
    PlatformError,
    PlatformUserId,
    Redeliver,
    ReplyTarget,
)

log = logging.getLogger(__name__)

COMMAND = "/mio"
EVENTS_PATH = "/slack/events"
_FORM = "application/x-www-form-urlencoded"
_KNOWN_CHANNELS = 10_000  # D… ids remembered as the bot's DM or not (a 1:1 never changes)

Reply = Callable[[ReplyTarget, Message], Awaitable[None]]


class RedeliveryWanted(Exception):
    """Raised by a listener, before any ack, so that Bolt answers 500 and Slack redelivers."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"nothing was committed (ref: {ref}); Slack will redeliver")
        self.ref = ref


def answer_of(outcome: Outcome) -> Message | None:
    """The message to acknowledge with; `RedeliveryWanted` when the delivery must be refused."""
    if isinstance(outcome, Redeliver):
        raise RedeliveryWanted(outcome.ref)
    return outcome.message


class SlackInbound:
    """One Bolt app whose listeners hand neutral events to the core's `handler`."""

    def __init__(
        self,
        *,
        signing_secret: str,
        client: AsyncWebClient,
        handler: EventHandler,
        reply: Reply,
    ) -> None:
        self._handler = handler
        self._reply = reply
        self._client = client
        self._bot_dms: dict[str, bool] = {}
        # An explicit `authorize` keeps Bolt out of its OAuth mode even when SLACK_CLIENT_ID and
        # SLACK_CLIENT_SECRET are in os.environ (platform-apis.md §I.16): `token=` alone does not.
        # Bolt's client only templates its per-request clients, which our listeners never use:
        # they answer through `reply`, and `authorize` calls auth.test through `client`.
        self.app = AsyncApp(
            name="mio-slack",
            client=AsyncWebClient(base_url=client.base_url),
            signing_secret=signing_secret,
            authorize=BotTokenAuthorize(client),
            process_before_response=True,
            request_verification_enabled=True,
        )
        self.app.command(COMMAND)(self._on_command)
        self.app.action(re.compile("^mio:"))(self._on_press)
        self.app.action(re.compile(f"^{re.escape(LINK_ACTION_PREFIX)}"))(self._on_link_press)
        self.app.event("message")(self._on_message)
        self.app.event("tokens_revoked")(self._on_revoked)
        self.app.event("app_uninstalled")(self._on_revoked)
        self.app.error(self._on_error)

    async def handle(self, request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        reparse_misread_form(bolt_request)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    # -- listeners (Bolt injects arguments by these parameter names) ---------------------------
    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        event = InboundCommand(
            platform=SLACK,
            delivery_id=f"slack:cmd:{body['trigger_id']}",
            user_id=PlatformUserId(body["user_id"]),
            text=body.get("text", "").strip(),
            reply_to=ReplyTarget(
                SLACK,
                {"response_url": body.get("response_url"), "channel_id": body.get("channel_id")},
            ),
            received_at=datetime.now(UTC),
        )
        answer = answer_of(await self._handler(event))
        if answer is None:
            await ack()
            return
        await ack(
            text=fallback_text(answer),
            blocks=render_blocks(answer),
            response_type="ephemeral" if answer.ephemeral else "in_channel",
        )

    async def _on_press(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        container = body.get("container") or {}
        channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id")
        reply_to: dict[str, Any] = {
            "response_url": body.get("response_url"),
            "channel_id": channel_id,
        }
        message = None
        if container.get("is_ephemeral"):
            # A button in a command's ephemeral answer (a confirmation): chat.update cannot reach
            # it, so there is no MessageRef, and the answer replaces it through response_url.
            reply_to["replace_original"] = True
        elif container.get("type") == "message" and channel_id and container.get("message_ts"):
            message = MessageRef(SLACK, channel_id=channel_id, message_id=container["message_ts"])
        event = ButtonPress(
            platform=SLACK,
            delivery_id=f"slack:act:{body.get('trigger_id') or action['action_ts']}",
            user_id=PlatformUserId(body["user"]["id"]),
            action_id=action["action_id"],
            value=action.get("value", ""),
            message=message,
            reply_to=ReplyTarget(SLACK, reply_to),
            received_at=datetime.now(UTC),
        )
        answer = answer_of(await self._handler(event))
        await ack()
        if answer is not None:
            # An answer to one person's press is for that person only ("not for you"); the
            # core edits the DM itself through update_message.
            await self._answer_later(event.reply_to, dataclasses.replace(answer, ephemeral=True))

    async def _on_link_press(self, ack: AsyncAck) -> None:
        # The browser already opened the URL; Slack still wants the click acknowledged.
        await ack()

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Bolt acks after this returns; whatever returns early is acked unread.
        if event.get("channel_type") != "im" or is_own_echo(body, event):
            return
        if event.get("subtype"):
            # message_changed, message_deleted, file_share, bot_message…: edits, deletes and
            # files are relayed by a later issue (issue 10, "Done when"); ignored until then.
            return
        if not event.get("user"):
            return
        party = authorization(body)
        if party.get("is_bot") is False and not await self._in_bot_dm(party, event):
            # "On behalf of users" (relay-apis §1.1): a 1:1 between two people.
            answer_of(await self._handler(dm_seen(body, event)))
            return
        if event.get("bot_id"):
            return  # another integration posting in the bot's DM: not a person typing
        await self._on_bot_dm(body, event)

    async def _on_bot_dm(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Typed to the bot: a command, or a message for a represented person (the core
        decides which from `prose` and `thread_id`)."""
        channel, text = event["channel"], str(event.get("text") or "")
        command = InboundCommand(
            platform=SLACK,
            delivery_id=delivery_id(body),
            user_id=PlatformUserId(event["user"]),
            text=strip_command(text),
            reply_to=ReplyTarget(SLACK, {"channel_id": channel}),
            received_at=datetime.now(UTC),
            redeliverable=True,  # an Events API delivery: Slack retries it on a 5xx
            prose=parse(text),
            conversation_id=channel,
            message_id=str(event.get("ts") or ""),
            thread_id=event.get("thread_ts"),
        )
        answer = answer_of(await self._handler(command))
        if answer is not None:
            await self._answer_later(command.reply_to, answer)

    async def _on_revoked(self, body: dict[str, Any]) -> None:
        """`tokens_revoked` / `app_uninstalled`: acked only once the core has recorded it."""
        answer_of(await self._handler(access_revoked(body)))

    async def _in_bot_dm(self, party: Mapping[str, Any], event: dict[str, Any]) -> bool:
        """Whether a user event's message was typed in the bot's own DM.

        A person who granted user scopes and writes to the bot can be delivered as their user
        event rather than the bot's (one authorization, either party: relay-apis §1.1,
        surprise 1). Only when the owner wrote the message is it ambiguous; the bot token then
        sees the channel (conversations.info, im:read) only if the bot is in it. A failure
        here raises, so Bolt answers 500 and Slack redelivers.
        """
        if party.get("user_id") != event.get("user"):
            return False  # someone wrote to the owner: the owner is a person, not the bot
        channel = str(event["channel"])
        known = self._bot_dms.get(channel)
        if known is None:
            try:
                await slack_call(self._client.conversations_info(channel=channel))
                known = True
            except PlatformError as exc:
                if exc.reason != "channel_not_found":
                    raise
                known = False
            if len(self._bot_dms) >= _KNOWN_CHANNELS:
                self._bot_dms.clear()
            self._bot_dms[channel] = known
        return known

    async def _on_error(self, error: Exception) -> BoltResponse | None:
        """Bolt's error handler: a wanted redelivery is a quiet 500 (the edge logged why);
        anything else is logged as Bolt would, and stays Bolt's 500."""
        if isinstance(error, RedeliveryWanted):
            body = {"error": f"internal error (ref: {error.ref})"}
            return BoltResponse(status=500, body=body)
        log.error("Slack: a delivery failed: %s", error, exc_info=error)
        return None

    async def _answer_later(self, target: ReplyTarget, answer: Message) -> None:
        # The event is already handled and persisted. Failing the request now would only make
        # Slack retry a delivery the core de-duplicates, so a lost answer is logged, not raised.
        try:
            await self._reply(target, answer)
        except PlatformError:
            log.exception("Slack: could not deliver the answer to %s", target.data)


class BotTokenAuthorize(AsyncAuthorize):
    """Bolt's authorization for our one workspace: the bot token, checked once by auth.test.

    A failed auth.test raises `PlatformError`, not slack_sdk's error: Bolt would turn the latter
    into a 200 "installation is no longer available", and Slack never retries a 200, so a DM
    arriving during a Slack outage would be lost. Anything else makes Bolt answer 500.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._result: AuthorizeResult | None = None

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        if self._result is None:
            self._result = AuthorizeResult.from_auth_test_response(
                auth_test_response=await slack_call(self._client.auth_test()),
                bot_token=self._client.token,
            )
        return self._result


def strip_command(text: str) -> str:
    """`/mio sync @bob teams` typed into the DM means the same as `sync @bob teams`."""
    text = text.strip()
    if text == COMMAND or text.startswith(COMMAND + " "):
        return text[len(COMMAND) :].strip()
    return text


def reparse_misread_form(request: AsyncBoltRequest) -> None:
    """Undo Bolt 1.30's misreading of slash commands that mention "payload" (§I.11).

    Bolt treats any form body containing the substring `payload` as an interactivity payload,
    so `/mio sync payload-team zoom` becomes `{}` and gets a 404. The raw body is left untouched,
    so signature verification still runs over the exact bytes Slack signed.
    """
    if request.body or request.content_type != _FORM or not request.raw_body:
        return
    form = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "payload" in form:
        return
    request.body = form
    request.context = build_async_context(AsyncBoltContext(), form)


__all__ = [
    "EVENTS_PATH",
    "BotTokenAuthorize",
    "RedeliveryWanted",
    "SlackInbound",
    "answer_of",
    "reparse_misread_form",
    "strip_command",
]
