"""The Webex stand-in: REST API under /v1/, OAuth, webhook delivery, and the org's people.

It behaves like the parts of Webex the bot uses (platform-apis.md §A.3, B.3, C.3, D.3, E.3,
F.3, §I.4–I.8): the bot token cannot list the directory, card messages cannot be edited,
webhooks only fire where registered and are signed with their own secret, and the message
webhook fires for the bot's own messages too. It also acts as the people: they type to the bot,
press card buttons and authorize the integration, all through the same signed deliveries the
bot gets from Webex, so tests exercise the bot's real verifier and its real API reads. For the
relay (`sandbox/webex/relay.py`, relay-apis §3) people also write to each other natively, and
each person's own webhook (made with their token) hears their 1:1s, their own sends included.
"""

from __future__ import annotations

import secrets
import urllib.parse
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.base import FakeService
from sandbox.org import Org, OrgAccount
from sandbox.webex.inbox_view import InboxView
from sandbox.webex.messages import MessagesApi
from sandbox.webex.model import Hook, Person, Room, SandboxMessage, State, hydra_id
from sandbox.webex.oauth import WebexOAuth
from sandbox.webex.people import PeopleApi
from sandbox.webex.relay import RelayLists, WebexRelayStandIn
from sandbox.webex.webhooks import Delivery, WebhookRegistry, sign

BOT_NAME = "Mio User Sync"
EVENTS_PATH = "/webex/events"


class WebexSandbox(WebexRelayStandIn, FakeService):
    """One Webex organisation seeded from the org's webex accounts; `env()` points the bot here.

    Until the bot registers webhooks (its `prepare()` at start-up), deliveries go to
    `{bot_url}/webex/events` signed with `webhook_secret`, as for a deployment whose webhooks
    were created by hand from the README.
    """

    name = "webex"

    def __init__(self, org: Org) -> None:
        super().__init__()
        workspace = org.workspaces["webex"]
        bot = Person(
            id=hydra_id("PEOPLE", "mio-bot-" + secrets.token_hex(6)),
            email="mio-user-sync@webex.bot",
            display_name=BOT_NAME,
            type="bot",
        )
        self.state = State(
            workspace["id"], workspace["name"], bot, "bot-" + secrets.token_urlsafe(32)
        )
        for index, account in enumerate(org.on("webex")):
            self.add_person(account, index)
        self.webhook_secret = secrets.token_urlsafe(24)
        self.oauth = WebexOAuth(self.state, BOT_NAME)
        self.hooks = WebhookRegistry(
            self.state, self.oauth.integration.application_id, self._fallback
        )
        self.people = PeopleApi(self.state, lambda: self.url)
        self.messages = MessagesApi(self.state, self.hooks)

    @property
    def bot(self) -> Person:
        return self.state.bot

    @property
    def bot_token(self) -> str:
        return self.state.bot_token

    @property
    def client_id(self) -> str:
        return self.oauth.integration.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.integration.client_secret

    def add_person(self, account: OrgAccount, index: int = 0) -> Person:
        person = Person.from_account(account, index)
        self.state.people[person.id] = person
        return person

    def person(self, person_id: str) -> Person:
        return self.state.people[person_id]

    def add_other_org_admin(self, org_name: str, email: str, display_name: str) -> Person:
        """A full admin of another Webex organisation, who can open our integration's authorize
        page like anyone on Webex and grant it their own organisation's directory."""
        org_id = hydra_id("ORGANIZATION", org_name.lower().replace(" ", "-"))
        self.state.other_orgs[org_id] = org_name
        person = Person(
            id=hydra_id("PEOPLE", secrets.token_hex(6)),
            email=email,
            display_name=display_name,
            is_admin=True,
            org_id=org_id,
        )
        self.state.people[person.id] = person
        return person

    def env(self) -> dict[str, str]:
        return {
            "WEBEX_BOT_TOKEN": self.bot_token,
            "WEBEX_WEBHOOK_SECRET": self.webhook_secret,
            "WEBEX_CLIENT_ID": self.client_id,
            "WEBEX_CLIENT_SECRET": self.client_secret,
            "WEBEX_API_URL": f"{self.url}/v1/",
        }

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        url = await super().start(host, port)
        await self.hooks.start(self.tracer())
        return url

    async def stop(self) -> None:
        await self.hooks.stop()
        await super().stop()

    def setup_routes(self, app: web.Application) -> None:
        self.people.add_routes(app)
        RelayLists(self.state, lambda: self.url).add_routes(app)  # before /messages/{id}
        self.messages.add_routes(app)
        self.hooks.add_routes(app)
        self.oauth.add_routes(app)
        InboxView(self).add_routes(app)

    def fault_body(self, status: int, path: str) -> Any:
        message = "Too many requests." if status == 429 else f"HTTP {status}"
        return {
            "message": message,
            "errors": [{"description": message}],
            "trackingId": "ROUTER_FAULT",
        }

    def rate_limit(self, path: str, after: int = 7, *, times: int = 1, skip: int = 0) -> None:
        """Make `path` answer 429 with `Retry-After: after` seconds, as Webex does (§G), after
        `skip` requests were served (`/v1/people` is throttled mid-listing, §E.3)."""
        self.fail(path, 429, times=times, headers={"Retry-After": str(after)}, skip=skip)

    def _fallback(self) -> Hook | None:
        if not self.bot_url:
            return None
        return Hook(
            id="sandbox-default",
            name="(not registered yet)",
            target_url=self.bot_url.rstrip("/") + EVENTS_PATH,
            resource="all",
            event="all",
            owner_id=self.bot.id,
            app_id=self.oauth.integration.application_id,
            secret=self.webhook_secret,
        )

    # -- what people see ---------------------------------------------------------------------
    def room_messages(self, room_id: str) -> list[SandboxMessage]:
        return [m for m in self.state.messages.values() if m.room_id == room_id and not m.deleted]

    def inbox(self, person_id: str) -> list[SandboxMessage]:
        """The bot's messages in its 1:1 space with `person_id`, threads included, oldest first."""
        room = self.state.direct_room(person_id)
        return [m for m in self.room_messages(room.id) if m.person_id == self.bot.id]

    def group(self, title: str, member_ids: list[str]) -> Room:
        """A group space with the bot and `member_ids`."""
        room = Room(
            hydra_id("ROOM", secrets.token_hex(8)), "group", {self.bot.id, *member_ids}, title
        )
        self.state.rooms[room.id] = room
        return room

    # -- acting as the people towards the bot ------------------------------------------------
    def sign(self, body: bytes, secret: str | None = None) -> str:
        """`X-Spark-Signature` of `body` (with the bot's webhook secret unless told otherwise)."""
        return sign(secret or self.webhook_secret, body)

    async def send_text(
        self,
        person_id: str,
        text: str,
        *,
        room: Room | None = None,
        mention_bot: bool = False,
    ) -> list[Delivery]:
        """`person_id` types `text` to the bot (their 1:1 space unless `room`); Webex delivers
        `messages:created` to every matching webhook, and we wait for the answers."""
        person = self.person(person_id)
        room = room or self.state.direct_room(person_id)
        mentions = (self.bot.id,) if mention_bot else ()
        message = self.messages.post(person, room, text=text, mentions=mentions)
        return await self.hooks.fire("messages", MessagesApi.event_data(message), room, person.id)

    async def press(
        self, person_id: str, message: SandboxMessage, action_id: str
    ) -> list[Delivery]:
        """`person_id` presses the card button whose data has `action_id` (§C.3)."""
        button = next(
            (
                b
                for b in message.buttons
                if b.get("type") == "Action.Submit"
                and (b.get("data") or {}).get("action_id") == action_id
            ),
            None,
        )
        if button is None:
            raise LookupError(f"no button {action_id!r} on message {message.id}")
        room = self.state.rooms[message.room_id]
        if person_id not in room.members:
            raise LookupError(f"{person_id} cannot see message {message.id}")
        action = self.messages.press(
            self.person(person_id), message, dict(button.get("data") or {})
        )
        data = {
            "id": action.id,
            "type": "submit",
            "messageId": message.id,
            "personId": person_id,
            "roomId": room.id,
            "created": action.created,
        }
        return await self.hooks.fire("attachmentActions", data, room, person_id)

    def _bot_hook(self) -> Hook:
        """The bot's registered webhook (its first), else where deliveries go by default."""
        hook = next(
            (h for h in self.hooks.hooks.values() if h.owner_id == self.bot.id),
            self._fallback(),
        )
        if hook is None:
            raise RuntimeError("the bot registered no webhook and WebexSandbox.bot_url is unset")
        return hook

    async def deliver(self, body: bytes, headers: dict[str, str] | None = None) -> Delivery:
        """POST raw bytes to the bot's webhook target, signed unless `headers` are given."""
        hook = self._bot_hook()
        if headers is None:
            headers = {"Content-Type": "application/json"}
            if hook.secret:
                headers["X-Spark-Signature"] = self.sign(body, hook.secret)
        return await self.hooks.post(Delivery(hook.target_url, body, headers))

    def envelope(self, resource: str, data: dict[str, Any]) -> bytes:
        """A webhook body as the bot's webhook would carry it."""
        actor = str(data.get("personId", ""))
        return self.hooks.envelope(self._bot_hook(), resource, data, actor)

    def captured_message(self, person_id: str, text: str, created: str) -> bytes:
        """The `messages:created` body of a message `person_id` typed to the bot at `created`,
        as whoever kept a copy then would send it now: Webex signs no timestamp (§I.6), so its
        signature (`deliver` adds it) is as good today as on the day it was sent."""
        person = self.person(person_id)
        message = self.messages.post(person, self.state.direct_room(person_id), text=text)
        message.created = created
        return self.envelope("messages", MessagesApi.event_data(message))

    async def replay_last(self) -> Delivery:
        """The last delivery again, byte for byte with the same signature (§I.6)."""
        if not self.hooks.deliveries:
            raise LookupError("nothing was delivered yet")
        last = self.hooks.deliveries[-1]
        return await self.hooks.post(Delivery(last.url, last.body, dict(last.headers)))

    async def settle(self) -> None:
        """Wait until the deliveries of the bot's own messages have been answered."""
        await self.hooks.wait_idle()

    async def authorize(self, url: str, person_id: str, approve: bool = True) -> str:
        """`person_id` opens an authorize link and accepts or declines.

        Returns the redirect's Location (the bot's callback URL with code or error) unfollowed.
        """
        if not url.startswith(self.url + "/v1/authorize"):
            raise ValueError(f"{url} is not this sandbox's authorize page")
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as page:
                if page.status != 200:
                    raise AssertionError(
                        f"authorize page answered {page.status}: {await page.text()}"
                    )
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            form = {
                k: query.get(k, [""])[0]
                for k in ("client_id", "response_type", "redirect_uri", "scope", "state")
            }
            form |= {"person_id": person_id, "decision": "accept" if approve else "decline"}
            async with session.post(
                f"{self.url}/v1/authorize", data=form, allow_redirects=False
            ) as answer:
                if answer.status != 302:
                    raise AssertionError(
                        f"authorize decision answered {answer.status}: {await answer.text()}"
                    )
                return answer.headers["Location"]
