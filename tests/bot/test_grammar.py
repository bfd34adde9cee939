"""The admin command grammar (bot/commands/grammar.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import ADAPTERS
from bot.commands.grammar import (
    SPECS,
    Command,
    Help,
    Import,
    ParseError,
    Primary,
    Reset,
    StatusCmd,
    Sync,
    Unsync,
    Users,
    help_text,
    parse,
)
from bot.platform_names import platform_names

PLATFORMS = ("slack", "teams", "webex", "zoom")


def ok(text: str) -> Command:
    return parse(text, platform_names(ADAPTERS, PLATFORMS))


def error(text: str, connected: tuple[str, ...] = PLATFORMS) -> str:
    """The parser's refusal when the adapters' registry is known and `connected` connected."""
    with pytest.raises(ParseError) as info:
        parse(text, platform_names(ADAPTERS, connected))
    assert str(info.value) == info.value.message
    return info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", Help(None)),
        ("help sync", Help("sync")),
        ("users", Users(None)),
        ("users bob", Users("bob")),
        ("users Bob  Marley", Users("Bob Marley")),
        ("status @bob", StatusCmd("@bob")),
        ("primary @bob slack", Primary("@bob", "slack")),
        ("sync @bob teams", Sync("@bob", ("teams",), all=False)),
        ("sync @bob all", Sync("@bob", (), all=True)),
        ("unsync @bob teams", Unsync("@bob", "teams")),
        ("reset @bob", Reset("@bob")),
        ("import", Import(None)),
        ("import zoom", Import("zoom")),
        ("import all", Import(None)),
    ],
)
def test_each_command_happy_path(text: str, expected: Command) -> None:
    assert ok(text) == expected


@pytest.mark.parametrize("prefix", ["", "/mio ", "mio ", "/MIO ", "  mio   "])
def test_prefix_is_optional(prefix: str) -> None:
    assert ok(f"{prefix}sync @bob teams") == Sync("@bob", ("teams",), all=False)


@pytest.mark.parametrize("text", ["", "   ", "/mio", "mio  "])
def test_empty_text_is_help(text: str) -> None:
    assert ok(text) == Help(None)


def test_command_names_and_platforms_ignore_case() -> None:
    assert ok("SYNC @bob TEAMS Zoom") == Sync("@bob", ("teams", "zoom"), all=False)
    assert ok("Help Sync") == Help("sync")
    assert ok("Primary @bob Slack") == Primary("@bob", "slack")


@pytest.mark.parametrize(
    "user",
    ["<@U123|bob>", "<@U123>", "@Bob", "bob@example.com", "Bob.Marley@Example.COM", "<at>Bob</at>"],
)
def test_mentions_and_emails_are_kept_verbatim(user: str) -> None:
    assert ok(f"sync {user} teams") == Sync(user, ("teams",), all=False)
    assert ok(f"status {user}") == StatusCmd(user)
    assert ok(f"unsync {user} zoom") == Unsync(user, "zoom")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sync Bob Marley zoom teams", Sync("Bob Marley", ("zoom", "teams"), all=False)),
        ('sync "Bob Marley" teams', Sync("Bob Marley", ("teams",), all=False)),
        ("sync 'Bob Marley' teams", Sync("Bob Marley", ("teams",), all=False)),
        ("sync “Bob Marley” teams", Sync("Bob Marley", ("teams",), all=False)),
        ('sync "Zoom" teams', Sync("Zoom", ("teams",), all=False)),  # quoted: a name
        ("sync Sinéad O'Connor webex", Sync("Sinéad O'Connor", ("webex",), all=False)),
        ("sync Marley, Bob teams", Sync("Marley, Bob", ("teams",), all=False)),
        ("sync <at>Bob Marley</at> teams", Sync("<at>Bob Marley</at>", ("teams",), all=False)),
        ("primary Bob Marley slack", Primary("Bob Marley", "slack")),
        ('unsync "Bob Marley" zoom', Unsync("Bob Marley", "zoom")),
        ("reset Bob  Marley", Reset("Bob Marley")),
        ('status "Bob Marley"', StatusCmd("Bob Marley")),
    ],
)
def test_multi_word_and_quoted_names(text: str, expected: Command) -> None:
    assert ok(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sync @bob all", Sync("@bob", (), all=True)),
        ("sync @bob teams all", Sync("@bob", (), all=True)),
        ("sync @bob ALL zoom", Sync("@bob", (), all=True)),
        ("sync @bob teams zoom teams", Sync("@bob", ("teams", "zoom"), all=False)),
        ("sync @bob teams,zoom", Sync("@bob", ("teams", "zoom"), all=False)),
        ("sync @bob teams, zoom", Sync("@bob", ("teams", "zoom"), all=False)),
        ("sync @bob teams , zoom", Sync("@bob", ("teams", "zoom"), all=False)),
    ],
)
def test_sync_platform_lists(text: str, expected: Sync) -> None:
    assert ok(text) == expected


@pytest.mark.parametrize(
    "alias", ["teams", "Teams", "msteams", "MSTeams", "MS Teams", "ms-teams", "Microsoft Teams"]
)
def test_teams_aliases(alias: str) -> None:
    assert ok(f"sync Bob Marley {alias}") == Sync("Bob Marley", ("teams",), all=False)
    assert ok(f"primary @bob {alias}") == Primary("@bob", "teams")
    assert ok(f"import {alias}") == Import("teams")


@pytest.mark.parametrize(
    ("alias", "name"), [("Slack", "slack"), ("WEBEX", "webex"), ("Zoom", "zoom")]
)
def test_labels(alias: str, name: str) -> None:
    assert ok(f"unsync @bob {alias}") == Unsync("@bob", name)


def test_labels_from_a_mapping() -> None:
    platforms = {"zoom": "Zoom Team Chat", "slack": "Slack"}
    assert parse("sync @bob zoom team chat", platforms) == Sync("@bob", ("zoom",), all=False)


def test_bare_names_know_no_aliases() -> None:
    with pytest.raises(ParseError) as info:
        parse("sync @bob msteams", ("slack", "teams"))
    assert "`msteams` is not a platform I know" in info.value.message


@pytest.mark.parametrize("typed", ["msteams", "Teams", "MS Teams", "microsoft teams"])
def test_a_known_platform_that_is_not_connected_says_so(typed: str) -> None:
    message = error(f"sync @bob {typed}", ("slack", "zoom"))
    assert message.startswith(
        "Teams is a platform Mio knows, but it is not connected here (connected: `slack`, "
        "`zoom`). Usage: `/mio sync"
    )
    assert "not a platform I know" not in message
    for text in (f"primary @bob {typed}", f"unsync Bob Marley {typed}", f"import {typed}"):
        assert "Teams is a platform Mio knows, but it is not connected" in error(text, ("zoom",))


@pytest.mark.parametrize(
    ("alias", "name"),
    [("zoom chat", "zoom"), ("Zoom Team Chat", "zoom"), ("ZOOM-chat", "zoom"),
     ("Webex-Teams", "webex"), ("Cisco Webex", "webex")],
)  # fmt: skip
def test_aliases_declared_by_the_adapters(alias: str, name: str) -> None:
    assert ok(f"sync Bob Marley {alias}") == Sync("Bob Marley", (name,), all=False)
    assert ok(f"primary <@U1|bob> {alias}") == Primary("<@U1|bob>", name)
    assert ok(f"import {alias}") == Import(name)


def test_platform_names_that_are_each_a_platform_are_a_list() -> None:
    assert ok("sync @bob webex teams") == Sync("@bob", ("webex", "teams"), all=False)
    assert ok("sync @bob zoom webex teams") == Sync("@bob", ("zoom", "webex", "teams"), False)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bad", "suggestion"),
    [
        ("snyc @bob teams", "snyc", "sync"),
        ("stauts @bob", "stauts", "status"),
        ("frobnicate", "frobnicate", None),
    ],
)
def test_unknown_command_suggests_the_closest(text: str, bad: str, suggestion: str | None) -> None:
    message = error(text)
    assert f"`{bad}` is not a command." in message
    assert "`/mio help`" in message
    if suggestion:
        assert f"Did you mean `{suggestion}`?" in message
    else:
        assert "Did you mean" not in message


def test_unknown_help_topic() -> None:
    assert "`unsnyc` is not a command. Did you mean `unsync`?" in error("help unsnyc")


@pytest.mark.parametrize(
    ("text", "bad", "usage"),
    [
        ("sync @bob temas", "temas", "sync <user> <platform…|all>"),
        ("sync Bob Marley", "Marley", "sync <user> <platform…|all>"),
        ("sync <@U1|bob> temas zoom", "temas", "sync <user> <platform…|all>"),
        ("sync bob@example.com teems teams", "teems", "sync <user> <platform…|all>"),
        ("sync @bob teams,zom", "zom", "sync <user> <platform…|all>"),
        ("primary @bob discord", "discord", "primary <user> <platform>"),
        ("unsync Bob Marley skype", "skype", "unsync <user> <platform>"),
        ("import zom", "zom", "import [platform]"),
    ],
)
def test_unknown_platform_lists_the_known_ones(text: str, bad: str, usage: str) -> None:
    message = error(text)
    assert f"`{bad}` is not a platform I know" in message
    assert "`slack`, `teams`, `webex`, `zoom`" in message
    assert f"Usage: `/mio {usage}`" in message
    assert "e.g. `/mio " in message


@pytest.mark.parametrize(
    ("text", "name"),
    [("sync", "sync"), ("sync teams", "sync"), ("sync all", "sync"), ('sync "" teams', "sync"),
     ("status", "status"), ("reset", "reset"), ("primary slack", "primary"),
     ("unsync MS Teams", "unsync")],
)  # fmt: skip
def test_missing_user(text: str, name: str) -> None:
    message = error(text)
    assert f"`{name}` needs a user" in message
    spec = next(s for s in SPECS if s.name == name)
    assert f"Usage: `/mio {spec.usage}`, e.g. `{spec.example}`." in message


@pytest.mark.parametrize(
    ("text", "in_message"),
    [
        ("sync @bob", "`sync @bob` needs a platform"),
        ("primary @bob", "`primary` needs a user and then a platform"),
        ("unsync @bob", "`unsync` needs a user and then a platform"),
        ("primary @bob slack,zoom", "`primary` takes one platform, not `slack,zoom`"),
        ("sync @bob ,", "`sync @bob` needs a platform"),
        ("unsync @bob all", "`unsync` takes one platform, not `all`"),
        ("import zoom teams", "`import` takes at most one platform, not `zoom teams`"),
    ],
)
def test_wrong_number_of_platforms(text: str, in_message: str) -> None:
    assert in_message in error(text)


@pytest.mark.parametrize(
    ("text", "fragment", "usage"),
    [
        ('sync "Bob Marley teams', '"Bob Marley teams', "sync"),
        ("/mio reset 'Bob", "'Bob", "reset"),
        ("status “Bob", "“Bob", "status"),
        ('"', '"', None),
    ],
)
def test_unbalanced_quote(text: str, fragment: str, usage: str | None) -> None:
    message = error(text)
    assert f"`{fragment}` is never closed" in message
    if usage:
        assert f"Usage: `/mio {usage}" in message
    else:
        assert "Usage" not in message


def test_no_platforms_connected() -> None:
    message = error("sync @bob teams", ())
    assert (
        "Teams is a platform Mio knows, but it is not connected here (none is connected" in message
    )


def test_a_typo_suggests_the_closest_platform() -> None:
    message = error("sync @bob zooom", ("slack", "zoom"))
    assert message.startswith("`zooom` is not a platform I know. Did you mean `zoom`?")
    assert (
        "The platforms are `slack`, `teams`, `webex`, `zoom`; connected: `slack`, `zoom`."
        in message
    )


# --- help -----------------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    lines = help_text()
    assert len(lines) == len(SPECS)
    for spec, line in zip(SPECS, lines, strict=True):
        assert line == f"`{spec.usage}` — {spec.help} e.g. `{spec.example}`"
    names = {s.name for s in SPECS}
    assert names == {"help", "users", "status", "primary", "sync", "unsync", "reset", "import"}


def test_help_examples_parse_to_their_own_command() -> None:
    for spec in SPECS:
        command = ok(spec.example)
        assert type(command).__name__.lower().removesuffix("cmd") == spec.name


def test_only_help_is_open_to_everyone() -> None:
    assert [s.name for s in SPECS if not s.admin_only] == ["help"]


def test_help_for_one_topic() -> None:
    assert help_text(topic="Sync") == [
        "`sync <user> <platform…|all>` — Sync a person to one or more platforms, or to all "
        "connected ones. e.g. `/mio sync @bob teams`"
    ]


def test_help_for_an_unknown_topic_lists_everything() -> None:
    lines = help_text(topic="nope")
    assert lines[0] == "There is no command named `nope`."
    assert len(lines) == len(SPECS) + 1


@pytest.mark.parametrize("topic", [None, ""])
def test_help_without_a_topic_lists_everything(topic: str | None) -> None:
    assert help_text(topic=topic) == help_text()


def test_help_for_the_commands_someone_may_run() -> None:
    public = tuple(s for s in SPECS if not s.admin_only)
    assert help_text(public) == ["`help [command]` — " + public[0].help + " e.g. `/mio help sync`"]


# --- robustness -----------------------------------------------------------------------------

VOCAB = [
    "/mio", "mio", "sync", "unsync", "primary", "status", "reset", "users", "import", "help",
    "all", "ALL", "teams", "MS", "Teams", "Microsoft", "zoom", "slack,", ",", "teams,zoom",
    "webex", "<@U1|bob>", "<@U2>", "@bob", "bob@example.com", "Bob", "O'Brien", '"', "'",
    "“", "”", '"Bob Marley"', "«", "»", "", " ", "\t", "İ", "ß", "\x00",
]  # fmt: skip


@given(st.text())
def test_parse_never_crashes_on_arbitrary_text(text: str) -> None:
    try:
        parse(text, PLATFORMS)
    except ParseError as exc:
        assert exc.message


@given(st.lists(st.sampled_from(VOCAB), max_size=8).map(" ".join))
def test_parse_never_crashes_on_command_like_text(text: str) -> None:
    try:
        parse(text, PLATFORMS)
    except ParseError as exc:
        assert exc.message


@given(
    user=st.sampled_from(["<@U1|bob>", "@bob", "bob@example.com", "Bob Marley", '"zoom"']),
    platforms=st.lists(st.sampled_from(PLATFORMS), min_size=1, max_size=6),
)
def test_sync_keeps_platform_order_without_duplicates(user: str, platforms: list[str]) -> None:
    command = ok(f"sync {user} {' '.join(platforms)}")
    assert isinstance(command, Sync)
    assert command.user == user.strip('"')
    assert command.platforms == tuple(dict.fromkeys(platforms))
    assert not command.all
