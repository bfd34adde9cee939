"""What people type for a platform ("MS Teams", "zoom chat", "SLACK") → the platform's name.

Which words name a platform is platform knowledge, so each adapter class declares its `label`
and `aliases`; this module only normalises and looks them up. Chat commands, the CLI and the
Hub all resolve through `resolve_platform`, so they accept the same words and refuse with the
same two sentences: "not a platform I know (the platforms are …)" when nothing matches, and
"a platform, but not connected here (connected: …)" when Mio knows it but has no credentials.
Pure: no I/O, no settings; the registry and the connected names are passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol


class Describes(Protocol):
    """What this module reads from an adapter class: `ADAPTERS` values satisfy it."""

    @property
    def label(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Declared:
    """A platform's words without its adapter: for callers that have only names (and tests)."""

    label: str
    aliases: tuple[str, ...] = ()


def key(text: str) -> str:
    """Case and separators do not matter: "MS-Teams", "ms teams" and "msteams" are one word."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


class PlatformNameError(ValueError):
    """A platform name that cannot be used; `message` is shown as it is (Markdown code spans)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def plain(self) -> str:
        """For pages, where code spans are not rendered."""
        return self.message.replace("`", "")


class UnknownPlatform(PlatformNameError):
    """No platform answers to the name: a typo, told apart from a known one not connected."""


class NotConnected(PlatformNameError):
    def __init__(self, message: str, platform: str) -> None:
        super().__init__(message)
        self.platform = platform


def _listing(names: Collection[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))


@dataclass(frozen=True)
class PlatformNames:
    """Every platform Mio knows (name → label), the words for each, and which are connected."""

    labels: Mapping[str, str]
    words: Mapping[str, str]  # key(name, label or alias) → name
    connected: frozenset[str]
    most_words: int = 1  # the longest name in words ("zoom team chat": 3), for parsers

    def lookup(self, text: str) -> str | None:
        """The platform `text` names, connected or not; None when it names none."""
        return self.words.get(key(text)) if key(text) else None

    def resolve(self, text: str) -> str:
        """The name of the connected platform `text` names, or an error saying which problem."""
        name = self.lookup(text)
        if name is None:
            raise self.unknown(text)
        if name not in self.connected:
            raise NotConnected(
                f"{self.labels[name]} is a platform Mio knows, but it is not connected here "
                f"({self.connected_sentence()}).",
                name,
            )
        return name

    def unknown(self, text: str) -> UnknownPlatform:
        import difflib  # only for a misspelt name: `mio --help` never loads it

        close = difflib.get_close_matches(key(text), list(self.words), n=1, cutoff=0.6)
        hint = f" Did you mean `{self.words[close[0]]}`?" if close else ""
        return UnknownPlatform(
            f"`{text.strip()[:40]}` is not a platform I know.{hint} The platforms are "
            f"{_listing(self.labels)}; {self.connected_sentence()}."
        )

    def connected_sentence(self) -> str:
        if not self.connected:
            return "none is connected (no platform has credentials)"
        return f"connected: {_listing(self.connected)}"


def platform_names[K: str](
    registry: Mapping[K, Describes], connected: Collection[str]
) -> PlatformNames:
    """The words for every platform in `registry` (name → adapter class).

    Raises `ValueError` when one word would name two platforms: that is a mistake in the
    adapters' declarations, found by the unit tests, not something a user can cause.
    """
    # A connected platform missing from the registry (a test's own adapter) is its own name.
    merged: dict[str, Describes] = {n: Declared(n) for n in connected}
    merged.update(registry.items())
    words: dict[str, str] = {}
    for name, cls in merged.items():
        for word in (name, cls.label, *cls.aliases):
            found = words.setdefault(key(word), name)
            if found != name or not key(word):
                raise ValueError(f"“{word}” cannot name both {found} and {name}.")
    labels = {name: cls.label for name, cls in merged.items()}
    most = max((len(w.split()) for c in merged.values() for w in (c.label, *c.aliases)), default=1)
    return PlatformNames(labels, words, frozenset(connected), most)


def resolve_platform[K: str](
    text: str, registry: Mapping[K, Describes], connected: Collection[str]
) -> str:
    """The connected platform `text` names, in any case and by any of its common names.

    Raises `UnknownPlatform` or `NotConnected`, whose `message` names the valid choices.
    """
    return platform_names(registry, connected).resolve(text)
