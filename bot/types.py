"""Platform-neutral types shared by the core (`bot`) and the adapters.

Adapters translate platform JSON into these and back; nothing here knows any platform's wire
format, so a new platform never needs a change in this module.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, NewType

from bot.prose import Prose

Platform = NewType("Platform", str)  # "slack", "zoom", "teams", "webex": the adapter's key
PlatformUserId = NewType("PlatformUserId", str)  # the platform's own id of one account

# How long the core remembers a processed delivery id, so a redelivery inside it changes nothing
# (longer than any platform retries). An adapter whose platform dates its deliveries refuses one
# dated earlier than this: its id may be forgotten, and it would run again.
DELIVERY_MEMORY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """One account as the platform's directory reports it."""

    platform: Platform
    user_id: PlatformUserId
    email: str | None
    display_name: str
    is_bot: bool = False
    is_guest: bool = False
    is_active: bool = True
    is_admin: bool = False
    # Platform details the adapter needs later (e.g. a Zoom JID); opaque to the core.
    extra: dict[str, Any] = field(default_factory=dict)


class ButtonStyle(StrEnum):
    PRIMARY = "primary"
    DANGER = "danger"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Button:
    """A button in a message: either it posts `value` back (an action) or it opens `url`."""

    label: str
    action_id: str = ""
    value: str = ""
    style: ButtonStyle = ButtonStyle.DEFAULT
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Plain:
    """Text that is not ours to format: a display name, an email, what someone typed, or a
    sentence written as plain text. Shown exactly as written, never read as markup, so a name
    like `<https://evil.example|Sign in again>` cannot become a link (or a mention, or bold)."""

    text: str


Span = str | Plain  # a `str` span is our own light markdown


@dataclass(frozen=True, slots=True)
class Text:
    """Our light markdown with `Plain` spans in it: each adapter renders the markdown its own
    way and escapes the plain spans for its own markup (`render`).

    Build it with `Text.format("*{name}* ({email})", name=..., email=...)`: the template is
    ours, every value is Plain. `str()` gives the raw characters (logs, the CLI, tests).
    """

    spans: tuple[Span, ...]

    @classmethod
    def format(cls, template: str, /, **values: str) -> Text:
        """`template` in our light markdown; each `{name}` becomes `Plain(values[name])`."""
        spans: list[Span] = []
        for literal, name, _, _ in string.Formatter().parse(template):
            if literal:
                spans.append(literal)
            if name is not None:
                spans.append(Plain(values[name]))
        return cls(tuple(spans))

    @classmethod
    def plain(cls, text: str) -> Text:
        return cls((Plain(text),))

    @classmethod
    def join(cls, parts: Iterable[str | Text], sep: str = " ") -> Text:
        spans: list[Span] = []
        for index, part in enumerate(parts):
            if index and sep:
                spans.append(sep)
            spans.extend(part.spans if isinstance(part, Text) else (part,))
        return cls(tuple(spans))

    def __add__(self, other: str | Text) -> Text:
        return Text.join((self, other), sep="")

    def __radd__(self, other: str) -> Text:
        return Text.join((other, self), sep="")

    def __str__(self) -> str:
        return "".join(s if isinstance(s, str) else s.text for s in self.spans)

    def splitlines(self) -> list[Text]:
        """One Text per line, as `str.splitlines` would cut the raw characters."""
        lines: list[list[Span]] = [[]]
        for span in self.spans:
            raw = span if isinstance(span, str) else span.text
            for index, piece in enumerate(raw.split("\n")):
                if index:
                    lines.append([])
                if piece:
                    lines[-1].append(piece if isinstance(span, str) else Plain(piece))
        return [Text(tuple(line)) for line in lines]


Rich = str | Text  # what a message field holds: our markdown alone, or with plain spans

# Plain spans stand in as these while an adapter converts our markdown around them: private-use
# characters, which no markup rule matches.
_HOLE = re.compile("\ue000(\\d+)\ue001")


def render(value: Rich, markup: Callable[[str], str], escape: Callable[[str], str]) -> str:
    """`value` in a platform's syntax: our markdown through `markup`, each plain span through
    `escape`. The markdown is converted whole, with the plain spans held out of it, so a rule
    such as `*bold*` still sees its two stars around a name and never sees inside it."""
    if isinstance(value, str):
        return markup(value)
    plain: list[str] = []
    template: list[str] = []
    for span in value.spans:
        if isinstance(span, str):
            template.append(span.replace("\ue000", "").replace("\ue001", ""))
        else:
            template.append(f"\ue000{len(plain)}\ue001")
            plain.append(span.text)
    converted = markup("".join(template))
    return _HOLE.sub(lambda m: escape(plain[int(m.group(1))]), converted)


@dataclass(frozen=True, slots=True)
class Message:
    """What the bot says, in a form every adapter can render natively.

    `title` becomes a header, `lines` are paragraphs of light markdown (`*bold*`, `_italic_`,
    links as `<url|text>`), `buttons` go in one row under them. Any of the texts may be a
    `Text` holding plain spans (names, emails), which every adapter shows literally.
    """

    text: Rich  # plain-text fallback (notifications, screen readers, clients without cards)
    title: Rich | None = None
    lines: tuple[Rich, ...] = ()
    buttons: tuple[Button, ...] = ()
    ephemeral: bool = True  # a reply to a command: seen only by who ran it, where supported


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Enough to edit a message the bot sent: adapters fill `data` with what they need."""

    platform: Platform
    channel_id: str
    message_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where an asynchronous answer to an inbound event goes (e.g. Slack's `response_url`)."""

    platform: Platform
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundCommand:
    """A `/mio …` slash command or a text command typed to the bot."""

    platform: Platform
    delivery_id: str  # unique per delivery attempt group: repeats of one delivery share it
    user_id: PlatformUserId
    text: str  # what follows `/mio`, mentions left in the platform's syntax
    reply_to: ReplyTarget
    received_at: datetime | None = None
    # True for a message typed to the bot, which the platform delivers again when refused with
    # a 5xx (Slack's Events API `message`, Teams message activities, Webex `messages`, Zoom bot
    # notifications); False for a slash command, which nobody usefully retries (bot/edge.py).
    redeliverable: bool = False
    # A message typed to the bot (not a slash command) carries what the relay needs when it is
    # meant for a represented person (`@name text`, a reply in a correspondent's thread):
    # the message as prose, its ids, and the thread it replies in (Slack `thread_ts`).
    prose: Prose | None = None
    conversation_id: str = ""
    message_id: str = ""
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A person pressed a button the bot sent."""

    platform: Platform
    delivery_id: str
    user_id: PlatformUserId
    action_id: str
    value: str
    message: MessageRef | None
    reply_to: ReplyTarget
    received_at: datetime | None = None
    # Nobody retries a press usefully: a failure is answered with a sentence (bot/edge.py).
    redeliverable: ClassVar[bool] = False


# -- The relay (bot/relay): direct messages between people on different platforms ------------


@dataclass(frozen=True, slots=True)
class DmSeen:
    """A 1:1 message between two people's own accounts on a platform, seen through a person's
    user-token subscription (Slack user events, a Graph subscription, a Webex user webhook,
    Zoom user events). Where the platform sends no text (Graph, Webex) or does not say who the
    other member is (Slack), `prose` or `other_id` is None and the core asks the adapter to
    complete it (`RelayPlatform.fetch_dm`) with the owner's token, outside the webhook."""

    platform: Platform
    delivery_id: str  # the platform's id of this delivery (de-duplicated by the edge)
    owner_id: PlatformUserId  # whose subscription saw it
    conversation_id: str  # Slack D…, Graph chat id, Webex room id, Zoom: the other's id
    message_id: str
    sender_id: PlatformUserId
    other_id: PlatformUserId | None  # the other member of the 1:1
    prose: Prose | None
    sent_at: datetime | None = None
    fetch: dict[str, Any] = field(default_factory=dict)  # what `fetch_dm` needs; adapter-opaque
    received_at: datetime | None = None
    redeliverable: ClassVar[bool] = True

    @property
    def complete(self) -> bool:
        return self.prose is not None and self.other_id is not None


@dataclass(frozen=True, slots=True)
class SubscriptionNotice:
    """The platform says a person's subscription needs care: `reauthorize` (Graph
    `reauthorizationRequired`), `removed` (recreate it), `missed` (notifications were lost:
    read the conversations since the last message seen)."""

    platform: Platform
    delivery_id: str
    owner_id: PlatformUserId
    subscription_id: str
    what: str  # "reauthorize" | "removed" | "missed"
    received_at: datetime | None = None
    redeliverable: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AccessRevoked:
    """Tokens were revoked on the platform's side: people's user tokens (`user_ids`: Slack
    `tokens_revoked`), or the whole app (`app_removed`: `app_uninstalled`, Zoom
    `app_deauthorized`), which disconnects the platform until it is connected again."""

    platform: Platform
    delivery_id: str
    user_ids: tuple[PlatformUserId, ...] = ()
    app_removed: bool = False
    received_at: datetime | None = None
    redeliverable: ClassVar[bool] = True


InboundEvent = InboundCommand | ButtonPress | DmSeen | SubscriptionNotice | AccessRevoked


@dataclass(frozen=True, slots=True)
class Post:
    """A message Mio posted for the relay: enough to find its echo, edit or delete it later
    (platform-apis §5.1: Slack channel + ts, Graph chat + message id, Webex room + message id,
    Zoom the other's id + message id)."""

    conversation_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Sender:
    """How the bot shows a represented sender: a name and the platform they wrote from."""

    name: str
    platform_label: str  # "Slack"
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A person's user-token subscription on a platform, as the adapter made it. Platforms
    whose user events come to the app without a per-person object (Slack, Zoom) return one
    with an empty `external_id` and no expiry."""

    external_id: str
    expires_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)  # adapter-opaque (Webex webhook secret id)


# -- The inbound edge's answer (bot/edge.py): what the adapter says to the platform -----------


@dataclass(frozen=True, slots=True)
class Answered:
    """Acknowledge the delivery, showing `message` when there is one.

    The event was committed, or was a repeat (changing nothing), or failed where a retry by the
    platform would not help (then `message` is the sentence with a reference).
    """

    message: Message | None = None


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Nothing was committed and the platform sends this event again when refused: answer 5xx
    (mentioning `ref`, the reference in our logs) so that it does."""

    ref: str


Outcome = Answered | Redeliver


@dataclass(frozen=True, slots=True)
class Identity:
    """Who authorized, as the platform reports it after an OAuth code exchange."""

    user_id: PlatformUserId
    email: str | None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """User tokens from an OAuth exchange; stored encrypted by the core."""

    identity: Identity
    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scope: str = ""

    def __repr__(self) -> str:  # tokens never reach logs
        return f"TokenGrant(identity={self.identity!r}, scope={self.scope!r}, access_token='**')"


class PlatformError(Exception):
    """A platform call failed; subclasses say whether trying again can help."""

    def __init__(self, platform: Platform | str, reason: str) -> None:
        super().__init__(f"{platform}: {reason}")
        self.platform = platform
        self.reason = reason


class RetryLater(PlatformError):
    """Rate limited, 5xx or unreachable: the same call may succeed later."""

    def __init__(self, platform: Platform | str, reason: str, after: float | None = None) -> None:
        super().__init__(platform, reason)
        self.after = after  # seconds, from Retry-After when the platform sent one


class PermanentFailure(PlatformError):
    """The platform says this call can never succeed as made (`channel_not_found`, 403 …)."""


class TokenRefused(PermanentFailure):
    """A person's user token no longer works (Slack `invalid_auth`/`token_revoked`, a failed
    Graph refresh, Webex 401, Zoom invalid token): the sync fails as `token_revoked`."""


class Unanswered(RetryLater):
    """The request was sent but no answer came (a timeout, a dropped connection): it may have
    reached the platform, so a retried post looks for it first (no platform has an
    idempotency key for sends, relay-apis §7 surprise 22)."""
