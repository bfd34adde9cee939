"""The neutral message text (bot/prose.py): splitting keeps order and the limit, the sealed
form reads back, the plain text and the mentions are what a reader sees."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.prose import CodeBlock, Emoji, Mention, Piece, Prose, Run, Style

styles = st.frozensets(st.sampled_from(list(Style)))
texts = st.text(alphabet=st.sampled_from("ab c\n*<>_"), min_size=1, max_size=40)
pieces: st.SearchStrategy[Piece] = st.one_of(
    st.builds(Run, texts, styles, st.one_of(st.none(), st.just("https://x.test/a"))),
    st.builds(CodeBlock, texts),
    st.builds(Mention, st.sampled_from(["U1", "U2"]), st.sampled_from(["Ada", "Bob Li"])),
    st.builds(Emoji, st.sampled_from(["thumbsup", "tada"])),
)
proses = st.builds(Prose.of, st.lists(pieces, max_size=12))


@given(proses, st.integers(min_value=10, max_value=60))
def test_split_keeps_the_order_and_the_limit(prose: Prose, limit: int) -> None:
    parts = prose.split(limit)
    assert "".join(part.plain() for part in parts) == prose.plain()
    for part in parts:
        assert len(part.plain()) <= limit
    assert all(not part.is_empty() or part.pieces for part in parts)


def test_split_cuts_at_a_space_and_never_inside_a_mention() -> None:
    prose = Prose.of([Run("hello there "), Mention("U1", "Ada"), Run(" bye")])
    parts = prose.split(12)
    assert [p.plain() for p in parts] == ["hello there ", "@Ada bye"]
    assert parts[1].pieces[0] == Mention("U1", "Ada")


def test_a_long_word_is_cut_hard_at_the_limit() -> None:
    parts = Prose.text("x" * 25).split(10)
    assert [len(p.plain()) for p in parts] == [10, 10, 5]


def test_split_with_a_measure_of_the_platform() -> None:
    """Zoom counts its own characters: a measure that doubles each one halves the part."""
    parts = Prose.text("ab cd ef gh").split(6, measure=lambda p: 2 * len(p.plain()))
    assert "".join(p.plain() for p in parts) == "ab cd ef gh"
    assert all(2 * len(p.plain()) <= 6 for p in parts)


@given(proses)
def test_dump_and_load_round_trip(prose: Prose) -> None:
    assert Prose.load(prose.dump()) == prose


def test_plain_shows_mentions_and_emoji_as_a_reader_sees_them() -> None:
    prose = Prose.of(
        [Run("hi ", frozenset({Style.BOLD})), Mention("U1", "Ada"), Run(" "), Emoji("tada")]
    )
    assert prose.plain() == "hi @Ada 🎉"
    assert Emoji("no_such_emoji_name").char() == ":no_such_emoji_name:"


def test_mentions_are_listed_and_mapped() -> None:
    prose = Prose.of([Mention("U1", "Ada"), Run(" and "), Mention("U2", "Bob")])
    assert prose.mentions() == [Mention("U1", "Ada"), Mention("U2", "Bob")]
    mapped = prose.map_mentions(
        lambda m: Mention("T1", m.name) if m.user_id == "U1" else Run(f"@{m.name}")
    )
    assert mapped.pieces == (Mention("T1", "Ada"), Run(" and "), Run("@Bob"))


def test_empty_and_text() -> None:
    assert Prose.text("") == Prose() and Prose().is_empty()
    assert Prose.text("  \n").is_empty() and not Prose.text("a").is_empty()
    assert (Prose.text("a") + Prose.text("b")).plain() == "ab"
