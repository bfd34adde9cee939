"""Platform names as people type them (bot/platform_names.py), over the real adapter registry."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import ADAPTERS
from bot.platform_names import (
    Declared,
    NotConnected,
    PlatformNameError,
    UnknownPlatform,
    key,
    platform_names,
    resolve_platform,
)

NAMES = tuple(sorted(ADAPTERS))
# Every word each adapter declares, with the platform it must name.
WORDS = [
    (word, name)
    for name, cls in ADAPTERS.items()
    for word in (name, cls.label, *cls.aliases)
]  # fmt: skip
SUBSETS = [
    frozenset(c) for n in range(len(NAMES) + 1) for c in itertools.combinations(NAMES, n)
]  # fmt: skip


def test_the_common_names_of_each_platform_are_declared() -> None:
    names = platform_names(ADAPTERS, NAMES)
    for typed, name in [
        ("msteams", "teams"), ("ms-teams", "teams"), ("MS Teams", "teams"),
        ("Microsoft Teams", "teams"), ("zoom chat", "zoom"), ("Zoom Team Chat", "zoom"),
        ("webex teams", "webex"), ("Slack", "slack"), ("WEBEX", "webex"),
    ]:  # fmt: skip
        assert names.resolve(typed) == name, typed


@pytest.mark.parametrize(("word", "name"), WORDS)
@pytest.mark.parametrize("connected", SUBSETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_every_word_for_every_set_of_connected_platforms(
    word: str, name: str, connected: frozenset[str]
) -> None:
    if name in connected:
        assert resolve_platform(word, ADAPTERS, connected) == name
        return
    with pytest.raises(NotConnected) as info:
        resolve_platform(word, ADAPTERS, connected)
    assert info.value.platform == name
    listing = ", ".join(f"`{n}`" for n in sorted(connected))
    assert info.value.message == (
        f"{ADAPTERS[name].label} is a platform Mio knows, but it is not connected here ("
        + (
            f"connected: {listing}"
            if connected
            else "none is connected (no platform has credentials)"
        )
        + ")."
    )


@given(
    st.sampled_from(WORDS).flatmap(
        lambda pair: st.tuples(
            st.lists(st.booleans(), min_size=len(pair[0]), max_size=len(pair[0])).map(
                lambda upper: "".join(
                    c.upper() if u else c.lower() for c, u in zip(pair[0], upper, strict=True)
                )
            ),
            st.just(pair[1]),
        )
    ),
    st.sampled_from(["", " ", "  ", "\t"]),
)
def test_any_case_and_surrounding_space(typed_and_name: tuple[str, str], pad: str) -> None:
    typed, name = typed_and_name
    assert resolve_platform(pad + typed + pad, ADAPTERS, NAMES) == name


@given(st.sampled_from(WORDS), st.sampled_from(["-", "_", " ", "  ", ""]))
def test_separators_between_words_do_not_matter(pair: tuple[str, str], sep: str) -> None:
    word, name = pair
    assert resolve_platform(sep.join(word.split()), ADAPTERS, NAMES) == name


@given(st.text(max_size=30))
def test_anything_else_is_unknown_and_lists_the_platforms(text: str) -> None:
    names = platform_names(ADAPTERS, ("slack",))
    try:
        name = names.resolve(text)
    except UnknownPlatform as exc:
        assert names.lookup(text) is None
        assert "The platforms are `slack`, `teams`, `webex`, `zoom`; connected: `slack`." in (
            exc.message
        )
    except NotConnected:
        assert names.lookup(text) in {"teams", "webex", "zoom"}
    else:
        assert name == "slack" and key(text) == "slack"


@pytest.mark.parametrize(
    ("typed", "hint"), [("zooom", "zoom"), ("Slakc", "slack"), ("temas", "teams"), ("fax", None)]
)
def test_unknown_names_suggest_the_closest(typed: str, hint: str | None) -> None:
    with pytest.raises(UnknownPlatform) as info:
        resolve_platform(typed, ADAPTERS, ("slack", "zoom"))
    message = info.value.message
    assert message.startswith(f"`{typed}` is not a platform I know.")
    assert (f"Did you mean `{hint}`?" in message) if hint else ("Did you mean" not in message)
    assert message.endswith(
        "The platforms are `slack`, `teams`, `webex`, `zoom`; connected: `slack`, `zoom`."
    )


@pytest.mark.parametrize("typed", ["", "   ", "-", ",", "é"])
def test_empty_or_punctuation_names_nothing(typed: str) -> None:
    with pytest.raises(PlatformNameError):
        resolve_platform(typed, ADAPTERS, NAMES)


def test_no_word_names_two_platforms() -> None:
    names = platform_names(ADAPTERS, ())
    assert len({key(w) for w, _ in WORDS}) == len(set(names.words))
    clash = {"a": Declared("Chat"), "b": Declared("B", aliases=("chat",))}
    with pytest.raises(ValueError, match="cannot name both a and b"):
        platform_names(clash, ())


def test_a_connected_name_missing_from_the_registry_is_its_own_name() -> None:
    names = platform_names(ADAPTERS, ("slack", "fax"))
    assert names.resolve("FAX") == "fax"
    assert names.labels["fax"] == "fax"


def test_most_words_is_the_longest_declared_name() -> None:
    assert platform_names(ADAPTERS, ()).most_words == 3  # "zoom team chat"
