"""TeamsPlatform against the Teams sandbox, over real HTTP in both directions.

The sandbox signs deliveries with RSA keys it generated and publishes through its own OpenID
metadata, and serves real tokens that expire, so nothing here mocks the JWT validator, the key
cache or the token cache.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.teams import TeamsPlatform
from adapters.teams.errors import to_platform_error
from adapters.teams.inbound import command_text
from adapters.teams.render import plain_text, render_activity, render_card, to_card_markdown
from bot.commands.grammar import SPECS
from bot.types import (
    Button,
    ButtonPress,
    ButtonStyle,
    DirectoryUser,
    InboundCommand,
    Message,
    MessageRef,
    PermanentFailure,
    Platform,
    PlatformUserId,
    RetryLater,
    TokenGrant,
)
from sandbox.org import load_org
from sandbox.teams import TeamsSandbox
from tests.adapters.support import Recorder, serving
from tests.e2e.agents_teams import TeamsAgent

ADA = "0a0a0a0a-0000-4000-8000-000000000ada"
BOB = "0b0b0b0b-0000-4000-8000-000000000b0b"
GRACE = "09a09a09-0000-4000-8000-0000000009ac"
IVAN = "01da0000-0000-4000-8000-0000000001da"
TERI = "07e17e17-0000-4000-8000-000000007e17"
REDIRECT = "https://mio.example/oauth/teams/callback"
CONSENT = Message(
    text="Allow Mio to link your Teams account?",
    title="Link your *Teams* account",
    lines=("Bob asked to sync you to <https://zoom.example|Zoom>.",),
    buttons=(
        Button("Allow", action_id="mio:consent:allow", value="tok42", style=ButtonStyle.PRIMARY),
        Button("Decline", action_id="mio:consent:decline", value="tok42", style=ButtonStyle.DANGER),
        Button("Why?", url="https://mio.example/help"),
    ),
)


@pytest.fixture
async def teams() -> AsyncIterator[TeamsSandbox]:
    sandbox = TeamsSandbox(load_org())
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def platform(teams: TeamsSandbox) -> AsyncIterator[TeamsPlatform]:
    adapter = TeamsPlatform.from_env(teams.env())
    assert adapter is not None
    await adapter.start()
    yield adapter
    await adapter.close()


@pytest.fixture
async def bot(teams: TeamsSandbox, platform: TeamsPlatform) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with serving(platform, recorder) as url:
        teams.bot_url = url
        yield recorder


def person(teams: TeamsSandbox, user_id: str) -> DirectoryUser:
    user = teams.users[user_id]
    return DirectoryUser(Platform("teams"), PlatformUserId(user.id), user.mail, user.display_name)


def token_requests(teams: TeamsSandbox, scope: str) -> int:
    return sum(
        1
        for c in teams.calls_to("/oauth2/v2.0/token")
        if urllib.parse.parse_qs(c.body.decode()).get("scope") == [scope]
    )


# -- settings ---------------------------------------------------------------------------------


def test_from_env_is_none_without_app_id() -> None:
    assert TeamsPlatform.from_env({}) is None
    assert TeamsPlatform.from_env({"TEAMS_APP_ID": " ", "GRAPH_API_URL": "http://x/"}) is None


def test_from_env_names_the_missing_variable(teams: TeamsSandbox) -> None:
    env = teams.env()
    del env["TEAMS_TENANT_ID"]
    with pytest.raises(ValueError, match="TEAMS_TENANT_ID"):
        TeamsPlatform.from_env(env)
    with pytest.raises(ValueError, match="TEAMS_APP_PASSWORD"):
        TeamsPlatform.from_env(teams.env() | {"TEAMS_APP_PASSWORD": ""})
    with pytest.raises(ValueError, match="TEAMS_APP_ID"):
        TeamsPlatform.from_env({"TEAMS_APP_PASSWORD": "x"})


def test_defaults_rate_and_repr_without_secrets(teams: TeamsSandbox) -> None:
    minimal = {k: v for k, v in teams.env().items() if k.startswith("TEAMS_APP") or "TENANT" in k}
    adapter = TeamsPlatform.from_env(minimal)
    assert adapter is not None
    assert adapter.service_url == "https://smba.trafficmanager.net/teams/"
    assert adapter.authorize_url("s", REDIRECT).startswith(
        f"https://login.microsoftonline.com/{teams.tenant_id}/oauth2/v2.0/authorize?"
    )
    assert (adapter.name, adapter.label, adapter.rate_per_second) == ("teams", "Teams", 7.0)
    assert teams.app_password not in repr(adapter)


# -- inbound: the Bot Connector's JWT ---------------------------------------------------------


async def test_signed_text_becomes_a_command(teams: TeamsSandbox, bot: Recorder) -> None:
    status, _ = await teams.send_text(BOB, "  status   bob@acme.test ")
    assert status == 200
    (event,) = bot.events
    assert isinstance(event, InboundCommand)
    assert (event.platform, event.user_id, event.text) == ("teams", BOB, "status bob@acme.test")
    activity = teams.deliveries[-1].activity
    assert event.delivery_id.startswith(f"teams:{activity['id']}:")
    assert event.reply_to.data == {
        "service_url": teams.service_url,
        "conversation_id": teams.conversations[BOB],
        "user_id": BOB,
        "activity_id": activity["id"],
    }


async def test_teams_redelivery_keeps_the_delivery_id(teams: TeamsSandbox, bot: Recorder) -> None:
    await teams.send_text(ADA, "users")
    assert (await teams.deliver(teams.deliveries[-1].activity))[0] == 200
    first, again = bot.events
    assert first.delivery_id == again.delivery_id
    await teams.send_text(ADA, "users")
    assert bot.events[2].delivery_id != first.delivery_id


@pytest.mark.parametrize(
    ("signing", "claims"),
    [
        pytest.param("forged", {}, id="forged-signature"),
        pytest.param("unknown-kid", {}, id="unpublished-key"),
        pytest.param("other-channels", {}, id="key-not-endorsed-for-msteams"),
        pytest.param("connector", {"exp": int(time.time()) - 301}, id="expired"),
        pytest.param("connector", {"nbf": int(time.time()) + 600}, id="not-yet-valid"),
        pytest.param("connector", {"aud": "another-bot"}, id="wrong-audience"),
        pytest.param("connector", {"iss": "https://sts.windows.net/x/"}, id="wrong-issuer"),
        pytest.param("connector", {"serviceurl": "https://evil.example/"}, id="serviceurl"),
        pytest.param("connector", {"serviceurl": None}, id="no-serviceurl"),
        pytest.param("connector", {"exp": None}, id="no-expiry"),
    ],
)
async def test_bad_tokens_are_401_before_the_handler(
    teams: TeamsSandbox, bot: Recorder, signing: str, claims: dict[str, Any]
) -> None:
    activity = teams.activity_for(ADA, text="reset bob@acme.test")
    status, text = await teams.deliver(activity, token=teams.make_token(signing=signing, **claims))
    assert (status, json.loads(text)) == (401, {"error": "Unauthorized"})
    assert bot.events == []


async def test_missing_or_malformed_authorization_is_401(
    teams: TeamsSandbox, bot: Recorder
) -> None:
    activity = teams.activity_for(ADA, text="users")
    assert (await teams.deliver(activity, token=""))[0] == 401
    assert (await teams.deliver(activity, token="abc.def.ghi"))[0] == 401
    hs256 = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    assert (await teams.deliver(activity, token=hs256))[0] == 401
    assert bot.events == []


async def test_clock_skew_within_five_minutes_is_accepted(
    teams: TeamsSandbox, bot: Recorder
) -> None:
    token = teams.make_token(exp=int(time.time()) - 200, nbf=int(time.time()) + 200)
    assert (await teams.deliver(teams.activity_for(ADA, text="help"), token=token))[0] == 200
    assert len(bot.events) == 1


async def test_rotated_keys_are_fetched_once_and_cached(teams: TeamsSandbox, bot: Recorder) -> None:
    await teams.send_text(ADA, "help")
    await teams.send_text(ADA, "help")
    assert len(teams.calls_to("/.well-known/keys")) == 1
    await teams.keys.rotate()  # Microsoft publishes a new key and signs with it
    assert (await teams.send_text(ADA, "help"))[0] == 200
    assert len(teams.calls_to("/.well-known/keys")) == 2
    assert len(teams.calls_to("/.well-known/openidconfiguration")) == 2
    assert len(bot.events) == 3


async def test_unreadable_bodies_after_a_valid_token(teams: TeamsSandbox, bot: Recorder) -> None:
    assert bot is not None and teams._session is not None
    url = teams.bot_url + "/api/messages"
    headers = {"Authorization": f"Bearer {teams.make_token()}"}
    async with teams._session.post(url, data=b"{not json", headers=headers) as response:
        assert response.status == 400
    async with teams._session.post(url, data=b"{not json") as response:
        assert response.status == 401  # the token is checked before the body is read
    no_user = teams.activity_for(ADA, text="help")
    del no_user["from"]["aadObjectId"]
    assert (await teams.deliver(no_user))[0] == 400
    assert bot.events == []


async def test_other_activities_tenants_and_bots_are_ignored(
    teams: TeamsSandbox, bot: Recorder
) -> None:
    update = teams.activity_for(ADA, type="conversationUpdate", membersAdded=[{"id": "28:x"}])
    assert (await teams.deliver(update))[0] == 200
    foreign = teams.activity_for(ADA, text="reset bob@acme.test")
    foreign["conversation"]["tenantId"] = foreign["channelData"]["tenant"]["id"] = "other"
    assert (await teams.deliver(foreign))[0] == 200
    from_bot = teams.activity_for(ADA, text="help")
    from_bot["from"]["id"] = "28:another-bot"
    assert (await teams.deliver(from_bot))[0] == 200
    assert (await teams.deliver(teams.activity_for(ADA, type="invoke", name="x")))[0] == 501
    assert bot.events == []


async def test_handler_failure_is_500_with_a_reference(teams: TeamsSandbox, bot: Recorder) -> None:
    bot.fail = True
    status, text = await teams.send_text(ADA, "import")
    assert status == 500 and "ref:" in text


# -- inbound: mentions and presses ------------------------------------------------------------


async def test_bot_mention_is_stripped_and_people_become_quoted_names(
    teams: TeamsSandbox, bot: Recorder
) -> None:
    await teams.send_text(ADA, "<at>Mio User Sync</at> sync <at>Bob Marley</at> zoom")
    (event,) = bot.events
    assert isinstance(event, InboundCommand)
    assert event.text == 'sync "Bob Marley" zoom'


def test_command_text_without_entities_and_with_html() -> None:
    activity = {
        "recipient": {"id": "28:app", "name": "Mio"},
        "text": '<p><at>Mio</at>&nbsp;status <at>O\'Brien "Ace"</at> &amp; co</p>',
    }
    assert command_text(activity) == 'status “O\'Brien "Ace"” & co'


async def test_action_submit_becomes_a_button_press(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: Recorder
) -> None:
    ref = await platform.send_dm(person(teams, BOB), CONSENT)
    (card,) = teams.inbox(BOB)
    assert (await teams.press(BOB, card, "mio:consent:decline"))[0] == 200
    (event,) = bot.events
    assert isinstance(event, ButtonPress)
    assert (event.user_id, event.action_id, event.value) == (BOB, "mio:consent:decline", "tok42")
    assert event.message == MessageRef(
        Platform("teams"), ref.channel_id, ref.message_id, {"service_url": teams.service_url}
    )


async def test_action_execute_is_answered_in_the_invoke_response(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: Recorder
) -> None:
    await platform.send_dm(person(teams, BOB), CONSENT)
    (card,) = teams.inbox(BOB)
    bot.answer = Message(text="Thanks!", title="Done")
    status, text = await teams.execute(BOB, card, "mio:consent:allow")
    body = json.loads(text)
    assert (status, body["statusCode"], body["type"]) == (
        200,
        200,
        "application/vnd.microsoft.card.adaptive",
    )
    assert body["value"]["body"][0]["text"] == "Done"
    (event,) = bot.events
    assert isinstance(event, ButtonPress) and event.action_id == "mio:consent:allow"
    assert len(teams.inbox(BOB)) == 1  # answered in the invoke, not as a new message


async def test_a_commands_answer_is_posted_as_a_card_in_the_chat(
    teams: TeamsSandbox, bot: Recorder
) -> None:
    bot.answer = Message(text="Carol: synced ✅", title="Status", lines=("*Carol*: synced ✅",))
    assert (await teams.send_text(ADA, "status carol@acme.test"))[0] == 200
    (answer,) = teams.inbox(ADA)  # posted before the 200, so already there
    assert answer.lines == ["Status", "**Carol**: synced ✅"]
    assert answer.summary == "Carol: synced ✅"
    assert teams.calls_to("/activities")[-1].headers["authorization"].startswith("Bearer ")


# -- outbound ---------------------------------------------------------------------------------


async def test_dm_to_someone_who_never_installed_the_app_installs_it_first(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    assert BOB not in teams.installed
    ref = await platform.send_dm(person(teams, BOB), CONSENT)
    assert teams.installs == [BOB]
    creates = teams.calls_to("/v3/conversations")
    assert [c.status for c in creates] == [403, 201]
    assert creates[0].json()["members"] == [{"id": BOB}]
    assert creates[0].json()["tenantId"] == teams.tenant_id
    (install,) = teams.calls_to(f"/users/{BOB}/teamwork/installedApps")
    bind = install.json()["teamsApp@odata.bind"]
    assert bind.endswith(f"/appCatalogs/teamsApps/{teams.catalog_id}")
    (card,) = teams.inbox(BOB)
    assert (ref.channel_id, ref.message_id) == (teams.conversations[BOB], card.id)
    assert ref.data == {"service_url": teams.service_url, "user_id": BOB}
    assert [a["data"] for a in card.actions if a["type"] == "Action.Submit"] == [
        {"action_id": "mio:consent:allow", "value": "tok42"},
        {"action_id": "mio:consent:decline", "value": "tok42"},
    ]
    # The second DM reuses the chat: no create, no install.
    await platform.send_dm(person(teams, BOB), CONSENT)
    assert len(teams.calls_to("/v3/conversations")) == 2 and teams.installs == [BOB]


async def test_install_answered_409_counts_as_installed(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    # Teams still says "not installed" while Graph already has the app (an install in flight).
    teams.installed.add(GRACE)
    teams.fail("/v3/conversations", 403, body={"error": {"code": "ForbiddenOperationException"}})
    await platform.send_dm(person(teams, GRACE), CONSENT)
    (install,) = teams.calls_to(f"/users/{GRACE}/teamwork/installedApps")
    assert install.status == 409 and teams.installs == []
    assert len(teams.inbox(GRACE)) == 1


async def test_app_missing_from_the_catalog_is_permanent(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    teams.app_in_catalog = False
    with pytest.raises(PermanentFailure, match="catalog"):
        await platform.send_dm(person(teams, BOB), CONSENT)


@pytest.mark.parametrize("how", ["writes", "conversation"])
async def test_blocked_user_is_a_permanent_failure(
    teams: TeamsSandbox, platform: TeamsPlatform, how: str
) -> None:
    teams.block(TERI, how)
    with pytest.raises(PermanentFailure, match="blocked") as raised:
        await platform.send_dm(person(teams, TERI), CONSENT)
    code = "MessageWritesBlocked" if how == "writes" else "ConversationBlockedByUser"
    assert code in raised.value.reason
    assert teams.inbox(TERI) == []


async def test_the_e2e_agent_sees_what_a_person_sees(
    teams: TeamsSandbox, platform: TeamsPlatform, bot: Recorder
) -> None:
    agent = TeamsAgent(teams, load_org())
    await platform.send_dm(person(teams, BOB), CONSENT)
    (seen,) = agent.dms("bob@acme.test")
    assert seen.actions == {"mio:consent:allow": "tok42", "mio:consent:decline": "tok42"}
    assert seen.links == ["https://mio.example/help"]
    assert seen.text.startswith("Link your Teams account\nBob asked to sync you to [Zoom]")
    assert await agent.press("bob@acme.test", seen, "mio:consent:allow") == 200
    bot.answer = Message(text="Mio commands", title="Mio User Sync commands")
    answer = await agent.command("ada@acme.test", "help")
    assert answer.text == "Mio User Sync commands\nMio commands" and answer.actions == {}
    assert [type(e).__name__ for e in bot.events] == ["ButtonPress", "InboundCommand"]


async def test_update_replaces_the_card_in_place(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ref = await platform.send_dm(person(teams, BOB), CONSENT)
    done = Message(text="Linked ✅", title="✅ Linked to Zoom", lines=("All set.",))
    assert await platform.update_message(ref, done) == ref
    (card,) = teams.inbox(BOB)
    assert (card.id, card.edited, card.lines, card.actions) == (
        ref.message_id,
        1,
        ["✅ Linked to Zoom", "All set."],
        [],
    )
    (put,) = [c for c in teams.calls if c.method == "PUT"]
    assert put.json()["id"] == ref.message_id


async def test_update_of_an_unknown_activity_is_permanent(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    ref = await platform.send_dm(person(teams, BOB), CONSENT)
    gone = MessageRef(ref.platform, ref.channel_id, "404404", ref.data)
    with pytest.raises(PermanentFailure, match="ActivityNotFoundInConversation"):
        await platform.update_message(gone, CONSENT)


async def test_bot_token_is_cached_refreshed_and_refetched_once_when_refused(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    bob = person(teams, BOB)
    await asyncio.gather(*(platform.send_dm(bob, CONSENT) for _ in range(3)))
    assert token_requests(teams, "https://api.botframework.com/.default") == 1
    teams.expire_tokens("connector")  # rejected before our cache expected it
    await platform.send_dm(bob, CONSENT)
    assert token_requests(teams, "https://api.botframework.com/.default") == 2
    statuses = [c.status for c in teams.calls_to("/activities")]
    assert statuses[-2:] == [401, 201]


async def test_429_is_retry_later_with_retry_after(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    teams.rate_limit("/activities", retry_after=7)
    with pytest.raises(RetryLater, match="429") as raised:
        await platform.send_dm(person(teams, TERI), CONSENT)
    assert raised.value.after == 7.0
    teams.rate_limit("/v1.0/organization", retry_after=3)  # list_users waits one out instead
    with pytest.raises(RetryLater) as raised:
        await platform.workspace()
    assert raised.value.after == 3.0


@pytest.mark.parametrize("status", [412, 500, 502, 503, 504])
async def test_busy_connector_is_retry_later(
    teams: TeamsSandbox, platform: TeamsPlatform, status: int
) -> None:
    teams.installed.add(TERI)
    teams.fail("/activities", status)
    with pytest.raises(RetryLater):
        await platform.send_dm(person(teams, TERI), CONSENT)


async def test_wrong_password_is_retry_later_for_the_admin(teams: TeamsSandbox) -> None:
    adapter = TeamsPlatform.from_env(teams.env() | {"TEAMS_APP_PASSWORD": "wrong"})
    assert adapter is not None
    await adapter.start()
    try:
        with pytest.raises(RetryLater, match="invalid_client") as raised:
            await adapter.send_dm(person(teams, BOB), CONSENT)
        assert raised.value.after == 60.0
        lines = await adapter.prepare("https://mio.example/")
        assert lines[0].startswith("the bot's messaging endpoint must be https://mio.example/api")
        assert "could NOT be obtained" in lines[1] and "invalid_client" in lines[1]
    finally:
        await adapter.close()


async def test_prepare_says_where_to_point_the_bot(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    lines = await platform.prepare("https://mio.example")
    assert "https://mio.example/api/messages" in lines[0]
    assert lines[1] == f"the bot token could be obtained for app {teams.app_id}."
    assert teams.catalog_id in lines[2]


def test_error_mapping_table() -> None:
    blocked = to_platform_error(
        403, {}, {"errorCode": 209, "message": '{"subCode": "MessageWritesBlocked"}'}
    )
    assert isinstance(blocked, PermanentFailure) and "MessageWritesBlocked" in blocked.reason
    assert isinstance(
        to_platform_error(400, {}, {"error": {"code": "BadArgument"}}), PermanentFailure
    )
    denied = to_platform_error(403, {}, {"error": {"code": "Authorization_RequestDenied"}})
    assert isinstance(denied, PermanentFailure) and "permission" in denied.reason
    assert isinstance(to_platform_error(401, {}, {"message": "denied"}), RetryLater)
    expired = {"error": {"code": "InvalidAuthenticationToken"}}
    user = to_platform_error(401, {}, expired, user_token=True)
    assert isinstance(user, PermanentFailure)
    dated = to_platform_error(429, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, None)
    assert isinstance(dated, RetryLater) and dated.after is not None and dated.after > 1e6
    assert to_platform_error(429, {}, None).after == 5.0  # type: ignore[attr-defined]


# -- directory --------------------------------------------------------------------------------


async def test_workspace_is_the_tenant_and_its_name(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    assert await platform.workspace() == (teams.tenant_id, "Acme Robotics")


async def test_list_users_pages_with_guests_admins_and_disabled(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    teams.max_page_size = 2
    teams.users[TERI].account_enabled = False
    teams.users[GRACE].mail = None  # mail is optional: the UPN stands in
    pages = [page async for page in platform.list_users()]
    # Pages of two, the last one holding what is left.
    total = len(teams.users)
    assert [len(p) for p in pages] == [2] * (total // 2) + ([total % 2] if total % 2 else [])
    users = {u.user_id: u for page in pages for u in page}
    assert set(users) == set(teams.users)
    assert users[PlatformUserId(ADA)].is_admin
    assert not users[PlatformUserId(BOB)].is_admin  # a Reports Reader is no admin
    assert users[PlatformUserId(IVAN)].is_guest and users[PlatformUserId(IVAN)].email == (
        "ivan@partner.test"
    )
    assert not users[PlatformUserId(TERI)].is_active and users[PlatformUserId(BOB)].is_active
    assert users[PlatformUserId(GRACE)].email == "grace@acme.test"
    assert (users[PlatformUserId(BOB)].email, users[PlatformUserId(BOB)].display_name) == (
        "BOB@acme.test",
        "Bob Marley",
    )
    first, *rest = teams.calls_to("/v1.0/users")
    assert first.query["$select"] == "id,displayName,mail,userPrincipalName,accountEnabled,userType"
    assert first.query["$top"] == "999" and all("$skiptoken" in c.query for c in rest)


async def test_directory_without_permission_is_permanent(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    teams.app_permissions.discard("User.Read.All")
    with pytest.raises(PermanentFailure, match="Authorization_RequestDenied"):
        await anext(aiter(platform.list_users()))


def test_parse_mention_knows_only_object_ids(platform: TeamsPlatform) -> None:
    assert platform.parse_mention(f"@{BOB.upper()}") == BOB
    assert platform.parse_mention("Bob Marley") is None
    assert platform.parse_mention("bob@acme.test") is None


# -- rendering --------------------------------------------------------------------------------


def test_render_card_shapes() -> None:
    card = render_card(CONSENT)
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "Link your Teams account",
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
    }
    assert card["body"][1]["text"] == "Bob asked to sync you to [Zoom](https://zoom.example)."
    allow, decline, why = card["actions"]
    assert allow["style"] == "positive" and decline["style"] == "destructive"
    assert why == {"type": "Action.OpenUrl", "title": "Why?", "url": "https://mio.example/help"}
    assert card["fallbackText"] == CONSENT.text
    assert render_activity(Message(text="hi"))["attachments"][0]["content"]["body"] == [
        {"type": "TextBlock", "text": "hi", "wrap": True}
    ]


def test_markdown_translation() -> None:
    assert to_card_markdown("*bold* and _it_ `code` ~gone~ <https://x.example>") == (
        "**bold** and _it_ code gone [https://x.example](https://x.example)"
    )
    assert to_card_markdown("2*3*4 stays") == "2*3*4 stays"
    assert plain_text("*Bob* <https://h.example|the hub> snake_case") == "Bob the hub snake_case"


# -- user OAuth -------------------------------------------------------------------------------


async def sign_in(teams: TeamsSandbox, platform: TeamsPlatform, user_id: str) -> TokenGrant:
    location = await teams.authorize(platform.authorize_url("st-1", REDIRECT), user_id)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["state"] == ["st-1"]
    return await platform.exchange_code(query["code"][0], REDIRECT)


async def test_oauth_round_trip_gives_the_entra_identity(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    url = platform.authorize_url("st-1", REDIRECT)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["scope"] == ["offline_access User.Read Chat.ReadWrite ChatMessage.Send"]
    assert query["response_mode"] == ["query"]
    grant = await sign_in(teams, platform, BOB)
    assert (grant.identity.user_id, grant.identity.email) == (BOB, "BOB@acme.test")
    assert grant.refresh_token and "User.Read" in grant.scope and grant.expires_at is not None
    (me,) = teams.calls_to("/v1.0/me")
    assert me.query["$select"] == "id,mail,userPrincipalName"


async def test_codes_are_single_use_and_cancel_is_access_denied(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    location = await teams.authorize(platform.authorize_url("st-2", REDIRECT), BOB)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    await platform.exchange_code(code, REDIRECT)
    with pytest.raises(PermanentFailure, match="invalid_grant"):
        await platform.exchange_code(code, REDIRECT)
    denied = await teams.authorize(platform.authorize_url("st-3", REDIRECT), BOB, approve=False)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(denied).query)
    assert (query["error"], query["state"]) == (["access_denied"], ["st-3"])


async def test_revoke_deletes_the_persons_grant_and_never_all_principals(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, BOB)
    await sign_in(teams, platform, ADA)
    assert await platform.revoke(grant) == (
        "Teams has no token revocation; removed the delegated permission grant"
    )
    (deleted,) = teams.deleted_grants
    assert (deleted.consent_type, deleted.principal_id) == ("Principal", BOB)
    assert teams.principal_grant(ADA) is not None
    assert any(g.consent_type == "AllPrincipals" for g in teams.grants.values())
    (lookup,) = teams.calls_to("/v1.0/oauth2PermissionGrants")
    assert lookup.query["$filter"] == (
        f"clientId eq '{teams.service_principal_id}' and principalId eq '{BOB}'"
    )
    assert await platform.revoke(grant) == (
        "Teams has no token revocation; no grant found; stored tokens deleted only"
    )


async def test_revoke_never_deletes_an_all_principals_grant_even_if_listed(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, BOB)
    tenant_wide = next(g for g in teams.grants.values() if g.consent_type == "AllPrincipals")
    teams.fail("/v1.0/oauth2PermissionGrants", 200, body={"value": [tenant_wide.resource()]})
    assert "no grant found" in await platform.revoke(grant)
    assert teams.deleted_grants == [] and not [c for c in teams.calls if c.method == "DELETE"]


async def test_refresh_fails_once_the_grant_is_gone(
    teams: TeamsSandbox, platform: TeamsPlatform
) -> None:
    grant = await sign_in(teams, platform, BOB)
    await platform.revoke(grant)
    assert teams._session is not None
    form = {
        "grant_type": "refresh_token",
        "client_id": teams.app_id,
        "client_secret": teams.app_password,
        "refresh_token": grant.refresh_token or "",
    }
    url = f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token"
    async with teams._session.post(url, data=form) as response:
        assert response.status == 400
        assert "AADSTS65001" in (await response.json())["error_description"]


# -- the manifest -----------------------------------------------------------------------------


def test_manifest_lists_our_commands_and_icons() -> None:
    folder = Path(__file__).parents[2] / "manifests" / "teams"
    manifest = json.loads((folder / "manifest.json").read_text())
    (bot_entry,) = manifest["bots"]
    assert bot_entry["botId"] == manifest["id"] and bot_entry["scopes"] == ["personal"]
    (commands,) = bot_entry["commandLists"]
    assert [c["title"] for c in commands["commands"]] == [s.name for s in SPECS]
    assert len(commands["commands"]) <= 10  # Teams' limit per command list
    for name, size in (("color", 192), ("outline", 32)):
        png = (folder / manifest["icons"][name]).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24]) == (size, size)
