"""The stand-in's webhook registry: CRUD under /v1/webhooks and real, signed deliveries.

Webex delivers an event to every active webhook whose owner can see it and whose filter
matches (§C.3, §D.3): a bot's `messages:created` webhook fires for every message in its 1:1
spaces, its own included, and in group spaces only when the message mentions it; a
`mentionedPeople=me` filter therefore never matches in a 1:1 space. Bodies are signed with the
webhook's secret (`X-Spark-Signature`, HMAC-SHA1 of the raw body, §A.3).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from sandbox.webex.model import Hook, Room, State, compact, error, hydra_id, read_json

RESOURCES = {"messages", "attachmentActions", "memberships", "rooms", "meetings", "all"}
EVENTS = {"created", "updated", "deleted", "all"}
# "Creating a webhook requires 'read' scope on the resource" (relay-apis §3.1).
READ_SCOPES = {"messages": "spark:messages_read", "rooms": "spark:rooms_read"}
# Webex turns a webhook `inactive` after delivery failures; its threshold is not published
# (relay-apis §3.1, §8 open questions), so the stand-in picks a small one.
FAILURES_BEFORE_INACTIVE = 3


@dataclass
class Delivery:
    """One POST to a webhook target, kept byte for byte so it can be replayed."""

    url: str
    body: bytes
    headers: dict[str, str]
    status: int = 0
    text: str = ""


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class WebhookRegistry:
    """Webhooks by id, and the deliveries made to them."""

    def __init__(
        self, state: State, app_id: str, default_target: Callable[[], Hook | None]
    ) -> None:
        self._state = state
        self._app_id = app_id
        # Where events go while the bot has registered nothing (see WebexSandbox.bot_url).
        self._default_target = default_target
        self.hooks: dict[str, Hook] = {}
        self.deliveries: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/webhooks", self._list)
        app.router.add_post("/v1/webhooks", self._create)
        app.router.add_get("/v1/webhooks/{hook_id}", self._get)
        app.router.add_put("/v1/webhooks/{hook_id}", self._update)
        app.router.add_delete("/v1/webhooks/{hook_id}", self._delete)

    async def start(self, trace: aiohttp.TraceConfig | None = None) -> None:
        self._session = aiohttp.ClientSession(trace_configs=[trace] if trace else None)

    async def stop(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- CRUD --------------------------------------------------------------------------------
    def _owned(self, request: web.Request) -> tuple[str, Hook | None] | web.Response:
        token = self._state.authenticate(request)
        if isinstance(token, web.Response):
            return token
        hook = self.hooks.get(request.match_info.get("hook_id", ""))
        if hook is not None and hook.owner_id != token.person_id:
            hook = None  # someone else's webhook is invisible, as on Webex
        return token.person_id, hook

    async def _list(self, request: web.Request) -> web.Response:
        owned = self._owned(request)
        if isinstance(owned, web.Response):
            return owned
        items = [
            h.public(self._state.org_id) for h in self.hooks.values() if h.owner_id == owned[0]
        ]
        return web.json_response({"items": items})

    async def _get(self, request: web.Request) -> web.Response:
        owned = self._owned(request)
        if isinstance(owned, web.Response):
            return owned
        if owned[1] is None:
            return error(404, "Webhook not found.")
        return web.json_response(owned[1].public(self._state.org_id))

    async def _create(self, request: web.Request) -> web.Response:
        owned = self._owned(request)
        if isinstance(owned, web.Response):
            return owned
        body = await read_json(request)
        required = ("name", "targetUrl", "resource", "event")
        if body is None or any(not isinstance(body.get(k), str) or not body[k] for k in required):
            return error(400, "name, targetUrl, resource and event are required.")
        if body["resource"] not in RESOURCES or body["event"] not in EVENTS:
            return error(400, f"Unsupported resource/event: {body['resource']}/{body['event']}.")
        if not str(body["targetUrl"]).startswith(("http://", "https://")):
            return error(400, "targetUrl must be an http(s) URL.")
        scope = READ_SCOPES.get(str(body["resource"]))
        token = self._state.scoped(request, scope) if scope else None
        if isinstance(token, web.Response):
            return token
        hook = Hook(
            id=hydra_id("WEBHOOK", str(uuid.uuid4())),
            name=body["name"],
            target_url=body["targetUrl"],
            resource=body["resource"],
            event=body["event"],
            owner_id=owned[0],
            app_id=self._app_id,
            filter=str(body.get("filter") or ""),
            secret=str(body.get("secret") or ""),
        )
        self.hooks[hook.id] = hook
        return web.json_response(hook.public(self._state.org_id))

    async def _update(self, request: web.Request) -> web.Response:
        """Only name, targetUrl, secret and status can change (§F.3)."""
        owned = self._owned(request)
        if isinstance(owned, web.Response):
            return owned
        hook = owned[1]
        if hook is None:
            return error(404, "Webhook not found.")
        body = await read_json(request)
        if body is None or not body.get("name") or not body.get("targetUrl"):
            return error(400, "name and targetUrl are required.")
        if body.get("status", "active") not in ("active", "inactive"):
            return error(400, "status must be active or inactive.")
        hook.name, hook.target_url = str(body["name"]), str(body["targetUrl"])
        hook.secret = str(body.get("secret") or hook.secret)
        hook.status = str(body.get("status") or hook.status)
        hook.failures = 0 if hook.status == "active" else hook.failures
        return web.json_response(hook.public(self._state.org_id))

    async def _delete(self, request: web.Request) -> web.Response:
        owned = self._owned(request)
        if isinstance(owned, web.Response):
            return owned
        if owned[1] is None:
            return error(404, "Webhook not found.")
        del self.hooks[owned[1].id]
        return web.Response(status=204)

    # -- delivery ----------------------------------------------------------------------------
    def targets(self, resource: str, data: dict[str, Any], room: Room) -> list[Hook]:
        """The active webhooks that receive this event, per Webex's visibility and filters."""
        hooks = [h for h in self.hooks.values() if h.status == "active"]
        if not any(h.owner_id == self._state.bot.id for h in hooks):
            default = self._default_target()
            hooks += [default] if default is not None else []
        chosen = []
        for hook in hooks:
            if hook.resource not in (resource, "all") or hook.event not in ("created", "all"):
                continue
            if hook.owner_id not in room.members:
                continue
            if (
                resource == "messages"
                and room.type == "group"
                and hook.owner_id == self._state.bot.id
                and hook.owner_id not in data.get("mentionedPeople", [])
            ):
                continue  # bots hear group messages only when mentioned
            if _matches(hook, data):
                chosen.append(hook)
        return chosen

    def envelope(self, hook: Hook, resource: str, data: dict[str, Any], actor_id: str) -> bytes:
        body = hook.public(self._state.org_id)
        body.pop("secret", None)
        body |= {"resource": resource, "event": "created", "actorId": actor_id, "data": data}
        return compact(body)

    async def fire(
        self, resource: str, data: dict[str, Any], room: Room, actor_id: str
    ) -> list[Delivery]:
        """Deliver now to every target; returns the deliveries (with the bot's answers)."""
        made = []
        unreachable: aiohttp.ClientError | None = None
        for hook in self.targets(resource, data, room):
            body = self.envelope(hook, resource, data, actor_id)
            headers = {"Content-Type": "application/json", "User-Agent": "Webex-Webhook/1.0"}
            if hook.secret:
                headers["X-Spark-Signature"] = sign(hook.secret, body)
            delivery = Delivery(hook.target_url, body, headers)
            try:
                made.append(await self.post(delivery))
            except aiohttp.ClientError as exc:  # the other webhooks still get theirs
                unreachable = unreachable or exc
            if not 200 <= delivery.status < 300:
                self._failed(hook)
            else:
                hook.failures = 0
        if unreachable is not None:
            raise unreachable
        return made

    def _failed(self, hook: Hook) -> None:
        """One more refused delivery; enough in a row and Webex stops trying (§3.1)."""
        hook.failures += 1
        if hook.failures >= FAILURES_BEFORE_INACTIVE and hook.id in self.hooks:
            hook.status = "inactive"

    def fire_later(self, resource: str, data: dict[str, Any], room: Room, actor_id: str) -> None:
        """As Webex does for the bot's own messages: after the API call has answered."""
        task = asyncio.create_task(self._fire_quietly(resource, data, room, actor_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _fire_quietly(
        self, resource: str, data: dict[str, Any], room: Room, actor_id: str
    ) -> None:
        try:
            await self.fire(resource, data, room, actor_id)
        except aiohttp.ClientError:
            return  # an unreachable target just misses the event, as with Webex

    async def post(self, delivery: Delivery) -> Delivery:
        if self._session is None:
            raise RuntimeError("WebexSandbox.start() must run before delivering events")
        self.deliveries.append(delivery)
        async with self._session.post(
            delivery.url, data=delivery.body, headers=delivery.headers
        ) as response:
            delivery.status, delivery.text = response.status, await response.text()
        return delivery

    async def wait_idle(self) -> None:
        """Until every background delivery has been answered."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _matches(hook: Hook, data: dict[str, Any]) -> bool:
    for key, value in parse_qsl(hook.filter):
        if key == "mentionedPeople":
            wanted = hook.owner_id if value == "me" else value
            if wanted not in data.get("mentionedPeople", []):
                return False
        elif str(data.get(key, "")) != value:
            return False
    return True
