"""Slack's side of the relay (issue 10): reading people's DMs and posting as them or the bot.

Mixed into `SlackPlatform`, which then implements `bot.platform.RelayPlatform`. Every call
goes through the relay's own client (`SlackClient.relay`, no automatic re-sends) and
`relay_call`, so a person's refused token is `TokenRefused` and a post without an answer is
`Unanswered`. Wire shapes: relay-apis §1 (Slack).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp

from adapters.slack.client import SlackClient
from adapters.slack.errors import SLACK, relay_call
from adapters.slack.relay_text import measure, parse, render
from bot.prose import Prose
from bot.types import (
    DirectoryUser,
    DmSeen,
    PermanentFailure,
    PlatformUserId,
    Post,
    Sender,
    Subscription,
    TokenGrant,
)

# The user scopes the relay needs (issue 10 §5, relay-apis §1.1-§1.2): read DMs (im:history,
# im:read), open and post in them as the person (im:write, chat:write), look people up.
RELAY_SCOPES = frozenset({"im:history", "im:read", "im:write", "chat:write", "users:read"})
MESSAGE_LIMIT = 40_000  # chat.postMessage truncates `text` beyond 40,000 characters
_HISTORY_PAGE = 200
_USERNAME_MAX = 80  # chat:write.customize `username`


def slack_ts(moment: datetime) -> str:
    """A datetime as Slack's `oldest`/`latest` argument (seconds, microseconds)."""
    return f"{moment.timestamp():.6f}"


def ts_time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None


class SlackRelay:
    """The `RelayPlatform` methods; `SlackPlatform` provides the client and credentials."""

    relay_scopes: ClassVar[frozenset[str]] = RELAY_SCOPES
    bot_threads: ClassVar[bool] = True  # one thread per correspondent in the bot's DM
    message_limit: ClassVar[int] = MESSAGE_LIMIT
    _http: SlackClient
    _client_id: str
    _client_secret: str
    _bot: tuple[str, str] | None = None  # the bot's (user id, bot id), from auth.test
    _app: str | None = None  # our app id (`api_app_id` in events), from bots.info

    def use_relay_key(self, key: bytes) -> None:
        """Slack signs every delivery with the app's signing secret and echoes no per-person
        secret, so the relay key has nothing to protect here."""

    def grant_covers_relay(self, grant: TokenGrant) -> bool:
        granted = {s for s in grant.scope.replace(" ", ",").split(",") if s}
        return RELAY_SCOPES <= granted

    async def refresh_grant(self, grant: TokenGrant) -> TokenGrant:
        """Slack user tokens never expire unless the app turned token rotation on (the
        manifest does not); with rotation, `oauth.v2.access grant_type=refresh_token`
        (platform-apis §F.1). A refresh token Slack refuses is `TokenRefused`."""
        if grant.refresh_token is None or grant.expires_at is None:
            return grant
        basic = aiohttp.encode_basic_auth(self._client_id, self._client_secret)
        form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
        call = self._http.relay.api_call(
            "oauth.v2.access", data=form, headers={"Authorization": basic}
        )
        # The new pair comes at the top level (access_token, refresh_token, expires_in, scope:
        # @slack/oauth's OAuthV2TokenRefreshResponse); the old refresh token is spent.
        fresh = await relay_call(call, user_token=True)
        token = fresh.get("access_token")
        if not token:
            raise PermanentFailure(SLACK, "oauth.v2.access refreshed no user token")
        expires_in = fresh.get("expires_in")
        return dataclasses.replace(
            grant,
            access_token=str(token),
            refresh_token=fresh.get("refresh_token") or grant.refresh_token,
            expires_at=datetime.now(UTC) + timedelta(seconds=int(expires_in))
            if expires_in
            else None,
            scope=str(fresh.get("scope") or grant.scope),
        )

    # -- subscriptions: nothing per person on Slack ------------------------------------------
    async def subscribe(
        self, grant: TokenGrant, public_url: str, existing: Subscription | None
    ) -> Subscription:
        """Slack has no per-person subscription object: the app's manifest subscribes to
        `message.im` "on behalf of users", and a person's events flow as soon as they grant
        `im:history` (relay-apis §1.1). So there is nothing to create or repair."""
        return existing or Subscription("")

    async def renew(self, grant: TokenGrant, subscription: Subscription) -> Subscription:
        """Nothing expires: the user events last as long as the person's grant."""
        return subscription

    async def unsubscribe(self, grant: TokenGrant, subscription: Subscription) -> None:
        """Nothing to delete on Slack's side: the person's events stop when their token is
        revoked (`auth.revoke`, which the core does right after, in the same ordered queue),
        and until then an event that still arrives finds no synced person and is dropped."""

    # -- reading ------------------------------------------------------------------------------
    async def fetch_dm(self, grant: TokenGrant, seen: DmSeen) -> DmSeen | None:
        """The other member from `conversations.members`, the text from `conversations.history`
        (both with the owner's token: im:read, im:history)."""
        token = grant.access_token
        other = seen.other_id
        if other is None:
            members = await relay_call(
                self._http.relay.conversations_members(channel=seen.conversation_id, token=token),
                user_token=True,
            )
            found = [str(m) for m in members.get("members") or []]
            others = [m for m in found if m != seen.sender_id]
            if len(found) != 2 or len(others) != 1 or others[0] == (await self._bot_ids())[0]:
                return None  # not a 1:1 between two people (a group DM, or the bot's DM)
            other = PlatformUserId(others[0])
        prose = seen.prose
        if prose is None:
            history = self._history(
                token, seen.conversation_id, oldest=seen.message_id, latest=seen.message_id
            )
            texts = [m.get("text", "") async for m in history if m.get("ts") == seen.message_id]
            if not texts:
                return None  # deleted since
            prose = parse(str(texts[0]))
        return dataclasses.replace(seen, other_id=other, prose=prose)

    async def messages_since(
        self, grant: TokenGrant, subscription: Subscription, since: datetime
    ) -> list[DmSeen]:
        """Every 1:1 the owner has (`users.conversations types=im`), read since `since`."""
        token = grant.access_token
        bot, _ = await self._bot_ids()
        seen: list[DmSeen] = []
        cursor: str | None = None
        while True:
            page = await relay_call(
                self._http.relay.users_conversations(
                    types="im", limit=_HISTORY_PAGE, cursor=cursor, token=token
                ),
                user_token=True,
            )
            for im in page.get("channels") or []:
                peer = str(im.get("user") or "")
                if peer and peer != bot:
                    seen += await self._dms_in(grant, str(im["id"]), peer, since)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return sorted(seen, key=lambda dm: float(dm.message_id))

    async def _dms_in(
        self, grant: TokenGrant, channel: str, peer: str, since: datetime
    ) -> list[DmSeen]:
        """One 1:1's messages since `since`, without what this app posted (as the webhook
        path drops them by `app_id`, relay-apis §1.6)."""
        owner, ours = grant.identity.user_id, await self._app_id()
        found: list[DmSeen] = []
        async for message in self._history(grant.access_token, channel, oldest=slack_ts(since)):
            sender = message.get("user")
            if message.get("subtype") or not sender or message.get("app_id") == ours:
                continue  # edits, deletes and joins come with issue 10's follow-up
            ts = str(message["ts"])
            found.append(
                DmSeen(
                    platform=SLACK,
                    delivery_id=f"slack:history:{channel}:{ts}",
                    owner_id=owner,
                    conversation_id=channel,
                    message_id=ts,
                    sender_id=PlatformUserId(str(sender)),
                    other_id=owner if sender != owner else PlatformUserId(peer),
                    prose=parse(str(message.get("text", ""))),
                    sent_at=ts_time(ts),
                )
            )
        return found

    async def _history(
        self, token: str | None, channel: str, *, oldest: str, latest: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """conversations.history after `oldest` (inclusive), oldest first, every page."""
        cursor: str | None = None
        pages: list[list[dict[str, Any]]] = []
        extra: dict[str, Any] = {"token": token} if token else {}
        while True:
            call = self._http.relay.conversations_history(
                channel=channel,
                oldest=oldest,
                latest=latest,
                inclusive=True,
                limit=_HISTORY_PAGE,
                cursor=cursor,
                **extra,
            )
            page = await relay_call(call, user_token=token is not None)
            pages.append(list(page.get("messages") or []))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or not page.get("has_more"):
                break
        for batch in reversed(pages):  # Slack answers newest first
            for message in reversed(batch):
                yield message

    # -- posting ------------------------------------------------------------------------------
    async def post_as_user(self, grant: TokenGrant, to: DirectoryUser, prose: Prose) -> list[Post]:
        """conversations.open + chat.postMessage with the person's token (relay-apis §1.2):
        the message is theirs. No `as_user`: legacy, classic apps only."""
        channel = await self._open(grant, to.user_id)
        posts: list[Post] = []
        for part in _parts(prose):
            call = self._http.relay.chat_postMessage(
                channel=channel, text=render(part), token=grant.access_token
            )
            sent = await relay_call(call, user_token=True, sends=True)
            posts.append(Post(str(sent["channel"]), str(sent["ts"])))
        return posts

    async def post_as_bot(
        self, to: DirectoryUser, sender: Sender, prose: Prose, thread_id: str | None
    ) -> list[Post]:
        """chat.postMessage with the bot token into its DM with `to` (`channel=<user id>`,
        §I.18), shown as "Name (Platform)" with chat:write.customize (relay-apis §1.7); in
        `thread_id`, or a new thread rooted at the first part."""
        username = f"{sender.name} ({sender.platform_label})"[:_USERNAME_MAX]
        posts: list[Post] = []
        for part in _parts(prose):
            call = self._http.relay.chat_postMessage(
                channel=to.user_id,
                text=render(part),
                username=username,
                icon_url=sender.avatar_url,
                thread_ts=thread_id,
            )
            sent = await relay_call(call, user_token=False, sends=True)
            posts.append(Post(str(sent["channel"]), str(sent["ts"])))
            thread_id = thread_id or posts[0].message_id
        return posts

    async def find_post(
        self, grant: TokenGrant | None, to: DirectoryUser, prose: Prose, since: datetime
    ) -> list[Post] | None:
        """The parts of `prose` posted since `since` by the grant's owner (or the bot) in the
        1:1 with `to`: conversations.history, and for the bot, whose relayed posts are mostly
        replies in a correspondent's thread, conversations.replies of the threads that moved."""
        channel = await self._open(grant, to.user_id)
        authors = {grant.identity.user_id} if grant else set(await self._bot_ids())
        wanted = [parse(render(part)) for part in _parts(prose)]
        token, oldest = (grant.access_token if grant else None), slack_ts(since)
        found = {str(m["ts"]): m async for m in self._history(token, channel, oldest=oldest)}
        if grant is None:
            found |= {str(m["ts"]): m for m in await self._thread_replies(channel, oldest)}
        posts: list[Post] = []
        for ts, message in sorted(found.items(), key=lambda item: float(item[0])):
            if len(posts) == len(wanted):
                break
            by = {message.get("user"), message.get("bot_id")} & authors
            if by and parse(str(message.get("text", ""))) == wanted[len(posts)]:
                posts.append(Post(channel, ts))
        return posts or None

    async def _thread_replies(self, channel: str, oldest: str) -> list[dict[str, Any]]:
        """Replies since `oldest` in the threads of the bot's DM: Slack's history lists only
        a thread's root, with `latest_reply` telling which threads moved (one page of roots:
        a correspondent's thread that moved lately is among the newest)."""
        roots = await relay_call(
            self._http.relay.conversations_history(channel=channel, limit=_HISTORY_PAGE),
            user_token=False,
        )
        replies: list[dict[str, Any]] = []
        for root in roots.get("messages") or []:
            if float(root.get("latest_reply") or 0) < float(oldest):
                continue
            thread = await relay_call(
                self._http.relay.conversations_replies(
                    channel=channel, ts=str(root["ts"]), oldest=oldest, inclusive=True,
                    limit=_HISTORY_PAGE,
                ),
                user_token=False,
            )  # fmt: skip
            replies += [m for m in thread.get("messages") or [] if m.get("ts") != root["ts"]]
        return replies

    async def _open(self, grant: TokenGrant | None, user_id: str) -> str:
        """The D… channel of the 1:1 (conversations.open, im:write; relay-apis §1.2)."""
        extra: dict[str, Any] = {"token": grant.access_token} if grant else {}
        opened = await relay_call(
            self._http.relay.conversations_open(users=user_id, **extra),
            user_token=grant is not None,
        )
        return str(opened["channel"]["id"])

    async def _app_id(self) -> str:
        """Our app's id, from bots.info on our bot (bot scope users:read)."""
        if self._app is None:
            _, bot_id = await self._bot_ids()
            info = await relay_call(self._http.relay.bots_info(bot=bot_id), user_token=False)
            self._app = str((info.get("bot") or {}).get("app_id") or "")
        return self._app

    async def _bot_ids(self) -> tuple[str, str]:
        """A customised bot post (username) may carry only `bot_id`, so both are matched."""
        if self._bot is None:
            auth = await relay_call(self._http.relay.auth_test(), user_token=False)
            self._bot = (str(auth["user_id"]), str(auth.get("bot_id") or ""))
        return self._bot


def _parts(prose: Prose) -> list[Prose]:
    return [part for part in prose.split(MESSAGE_LIMIT, measure) if not part.is_empty()]
