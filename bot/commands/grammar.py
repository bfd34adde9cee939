"""Admin command declarations and the pure parser of `/mio …` text.

Parsing is separate from running so that every platform (slash command, text DM, the Hub's
form) turns text into the same typed command, and so the grammar can be tested without a bot.
Mentions stay in the platform's own syntax: resolving them is the adapter's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

from bot.platform_names import Declared, PlatformNameError, PlatformNames, platform_names

# Every parser takes the words after the command, the platform names and its own declaration
# (for the usage in its errors); a command without platforms or errors ignores the last two.
type Parser = Callable[[list[_Token], _Platforms, Spec], Command]


@dataclass(frozen=True)
class Spec:
    """One command, declared once: its words, help, who may run it and whether it asks first.

    The chat commands, the CLI's help and the confirmation step all read these fields, so a
    command cannot be spelled, explained or guarded differently in two places.
    """

    name: str
    usage: str  # without the `/mio ` prefix
    help: str
    example: str  # as typed in chat
    terminal: str  # the same example as typed in a terminal (`mio …`), where mentions are names
    parse: Parser
    admin_only: bool = True
    confirm: str | None = None  # the Confirm button's label; None runs at once
    danger: bool = False  # the confirmation is for something that removes state


@dataclass(frozen=True)
class Help:
    NAME: ClassVar[str] = "help"
    topic: str | None


@dataclass(frozen=True)
class Users:
    NAME: ClassVar[str] = "users"
    filter: str | None


@dataclass(frozen=True)
class StatusCmd:
    NAME: ClassVar[str] = "status"
    user: str


@dataclass(frozen=True)
class Primary:
    NAME: ClassVar[str] = "primary"
    user: str
    platform: str


@dataclass(frozen=True)
class Sync:
    NAME: ClassVar[str] = "sync"
    user: str
    platforms: tuple[str, ...]  # empty when `all`
    all: bool


@dataclass(frozen=True)
class Unsync:
    NAME: ClassVar[str] = "unsync"
    user: str
    platform: str


@dataclass(frozen=True)
class Reset:
    NAME: ClassVar[str] = "reset"
    user: str


@dataclass(frozen=True)
class Import:
    NAME: ClassVar[str] = "import"
    platform: str | None  # None: every connected platform


Command = Help | Users | StatusCmd | Primary | Sync | Unsync | Reset | Import


class ParseError(Exception):
    """The text is not a valid command; `message` is shown to the admin as it is."""

    def __init__(self, message: str, spec: Spec | None = None) -> None:
        if spec is not None:
            message = f"{message} Usage: `/mio {spec.usage}`, e.g. `{spec.example}`."
        super().__init__(message)
        self.message = message
        self.spec = spec


def help_text(specs: tuple[Spec, ...] | None = None, topic: str | None = None) -> list[str]:
    """Generated from the declarations, so help can never drift from what the parser accepts.

    Pass only the specs the asker may run; an unknown topic gets the whole list, never an error.
    """
    specs = SPECS if specs is None else specs
    chosen = [s for s in specs if topic and s.name == topic.strip().lower()]
    lines = [] if chosen or not topic else [f"There is no command named `{topic}`."]
    return lines + [f"`{s.usage}` — {s.help} e.g. `{s.example}`" for s in chosen or specs]


_QUOTES: Mapping[str, str] = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}
_PREFIXES = frozenset({"/mio", "mio", "@mio"})
_ALL = "all"
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool  # a quoted token is always a name, never a keyword or platform


def _tokenize(text: str) -> list[_Token]:
    """Split on whitespace, honouring quotes that open a token: `O'Brien` stays one word."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text[i] in _QUOTES:
            end = text.find(_QUOTES[text[i]], i + 1)
            if end == -1:
                raise ParseError(
                    f"The quote in `{text[i:].strip()}` is never closed; put a "
                    f"{_QUOTES[text[i]]} after the name."
                )
            tokens.append(_Token(text[i + 1 : end].strip(), quoted=True))
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            tokens.append(_Token(text[start:i], quoted=False))
    return tokens


def names_of(platforms: PlatformNames | Collection[str]) -> PlatformNames:
    """Platform names as given: the full registry's words, or bare names (all connected), or a
    mapping of name → label, which also teaches the parser each label."""
    if isinstance(platforms, PlatformNames):
        return platforms
    labels = dict(platforms) if isinstance(platforms, Mapping) else {p: p for p in platforms}
    declared = {str(n).lower(): Declared(str(label)) for n, label in labels.items()}
    return platform_names(declared, declared)


class _Platforms:
    """Resolves what people type ("MS Teams", "Zoom", "teams,zoom") to platform names."""

    def __init__(self, platforms: PlatformNames | Collection[str]) -> None:
        self.names = names_of(platforms)

    def _word(self, tokens: list[_Token]) -> str | None:
        return self.names.lookup(" ".join(t.text.strip(",") for t in tokens))

    def peel(self, tokens: list[_Token]) -> tuple[list[str], int] | None:
        """The platform(s), or `all`, that `tokens` end with, and how many tokens name them.

        A name of several words ("zoom team chat") is read as one platform unless each of its
        words is a platform too: "webex teams" after a user is two platforms, not one."""
        for size in range(min(self.names.most_words, len(tokens)), 1, -1):
            tail = tokens[-size:]
            if any(t.quoted for t in tail) or all(self._word([t]) for t in tail):
                continue
            name = self._word(tail)
            if name is not None:
                return [name], size
        if not tokens or tokens[-1].quoted:
            return None
        parts = [p for p in tokens[-1].text.split(",") if p]
        names = [_ALL if p.lower() == _ALL else self.names.lookup(p) for p in parts]
        if None in names:
            return None  # (a lone "," names nothing but is still peeled, as in "teams , zoom")
        return [n for n in names if n is not None], 1

    def connected(self, names: list[str], spec: Spec) -> list[str]:
        """`names` unchanged when each is connected; else say which is not, and what is."""
        try:
            for name in names:
                if name != _ALL:
                    self.names.resolve(name)
        except PlatformNameError as exc:
            raise ParseError(exc.message, spec) from None
        return names

    def unknown(self, token: _Token, spec: Spec) -> ParseError:
        bad = [p for p in token.text.split(",") if p and self.peel([_Token(p, False)]) is None]
        return ParseError(self.names.unknown(bad[0] if bad else token.text).message, spec)

    def known(self) -> str:
        return (
            ", ".join(f"`{p}`" for p in sorted(self.names.connected))
            or "none (no platform is connected)"
        )


def _join(tokens: list[_Token]) -> str:
    return " ".join(t.text for t in tokens if t.text)


def _self_contained(word: str) -> bool:
    """A platform mention (`<@U123|bob>`) or an email: a whole user in one word."""
    return (word.startswith("<") and word.endswith(">")) or _EMAIL.fullmatch(word) is not None


def _user(tokens: list[_Token], spec: Spec, pf: _Platforms | None = None) -> str:
    """Everything before the platforms is the user, except after a self-contained mention or
    email: then more words are surely a mistyped platform (`pf` given), so say so now."""
    user = _join(tokens)
    if not user:
        raise ParseError(f"`{spec.name}` needs a user: a mention, an email or a name.", spec)
    first = tokens[0]
    if pf is not None and len(tokens) > 1 and not first.quoted and _self_contained(first.text):
        raise pf.unknown(tokens[1], spec)
    return user


def _parse_sync(args: list[_Token], pf: _Platforms, spec: Spec) -> Sync:
    found: list[str] = []
    end = len(args)
    while end > 0 and (peeled := pf.peel(args[:end])) is not None:
        found[:0] = peeled[0]
        end -= peeled[1]
    if not found and end > 1:  # `sync Bob temas`: the last word was surely meant as a platform
        raise pf.unknown(args[-1], spec)
    user = _user(args[:end], spec, pf=pf)
    if not found:
        raise ParseError(f"`sync {user}` needs a platform: one of {pf.known()}, or `all`.", spec)
    if _ALL in pf.connected(found, spec):
        return Sync(user, (), all=True)
    return Sync(user, tuple(dict.fromkeys(found)), all=False)


def _parse_user_platform(args: list[_Token], pf: _Platforms, spec: Spec) -> tuple[str, str]:
    peeled = pf.peel(args)
    if peeled is None:
        if len(args) > 1:
            raise pf.unknown(args[-1], spec)
        raise ParseError(
            f"`{spec.name}` needs a user and then a platform: one of {pf.known()}.", spec
        )
    names, size = peeled
    if len(names) != 1 or names[0] == _ALL:
        raise ParseError(f"`{spec.name}` takes one platform, not `{args[-1].text}`.", spec)
    user = _user(args[:-size], spec, pf=pf)
    return user, pf.connected(names, spec)[0]


def _parse_import(args: list[_Token], pf: _Platforms, spec: Spec) -> Import:
    if not args:
        return Import(None)
    peeled = pf.peel(args)
    if peeled is None:
        raise pf.unknown(args[-1], spec)
    names, size = peeled
    if size != len(args) or len(names) != 1:
        raise ParseError(f"`import` takes at most one platform, not `{_join(args)}`.", spec)
    return Import(None if names[0] == _ALL else pf.connected(names, spec)[0])


def _unknown_command(word: str) -> ParseError:
    import difflib  # only for a misspelt command: `mio --help` never loads it

    close = difflib.get_close_matches(word.lower(), list(_BY_NAME), n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return ParseError(f"`{word}` is not a command.{hint} Type `/mio help` to see all commands.")


def parse(text: str, platforms: PlatformNames | Collection[str]) -> Command:
    """Text after (or including) `/mio` → a typed command, or a `ParseError` to show as is.

    `platforms` is best `platform_names(ADAPTERS, connected)`, so a known platform that is not
    connected is told apart from a word that names none; bare names (all taken as connected)
    or a mapping of name → label also work.
    """
    try:
        tokens = _tokenize(text)
    except ParseError as exc:  # still show the usage of the command it was meant for
        words = text.split()[:2]
        words = words[1:] if words and words[0].lower() in _PREFIXES else words
        raise ParseError(exc.message, _BY_NAME.get(words[0].lower()) if words else None) from None
    if tokens and not tokens[0].quoted and tokens[0].text.lower() in _PREFIXES:
        tokens = tokens[1:]
    if not tokens:
        return Help(None)
    head, args = tokens[0], tokens[1:]
    spec = _BY_NAME.get(head.text.lower())
    if spec is None:
        raise _unknown_command(head.text)
    return spec.parse(args, _Platforms(platforms), spec)


def spec_of(command: Command) -> Spec:
    """The declaration a parsed command came from."""
    return _BY_NAME[command.NAME]


def spec_named(name: str) -> Spec:
    return _BY_NAME[name]


def _parse_help(args: list[_Token], _pf: _Platforms, _spec: Spec) -> Help:
    if args and args[0].text.lower() not in _BY_NAME:
        raise _unknown_command(args[0].text)
    return Help(args[0].text.lower() if args else None)


def _parse_users(args: list[_Token], _pf: _Platforms, _spec: Spec) -> Users:
    return Users(_join(args) or None)


def _parse_status(args: list[_Token], _pf: _Platforms, spec: Spec) -> StatusCmd:
    return StatusCmd(_user(args, spec))


def _parse_reset(args: list[_Token], _pf: _Platforms, spec: Spec) -> Reset:
    return Reset(_user(args, spec))


def _parse_primary(args: list[_Token], pf: _Platforms, spec: Spec) -> Primary:
    return Primary(*_parse_user_platform(args, pf, spec))


def _parse_unsync(args: list[_Token], pf: _Platforms, spec: Spec) -> Unsync:
    return Unsync(*_parse_user_platform(args, pf, spec))


SPECS: tuple[Spec, ...] = (
    Spec("help", "help [command]", "Show this list, or how to use one command.",
         "/mio help sync", "mio --help", _parse_help, admin_only=False),
    Spec("users", "users [filter]",
         "List people and their sync status, optionally only those whose name or email "
         "holds a word.", "/mio users bob", "mio users bob", _parse_users),
    Spec("status", "status <user>", "Show one person's accounts, primary platform and syncs.",
         "/mio status @bob", "mio status bob@acme.test", _parse_status),
    Spec("primary", "primary <user> <platform>",
         "Choose the platform a person uses daily (where consent messages go).",
         "/mio primary @bob slack", "mio primary bob@acme.test slack", _parse_primary),
    Spec("sync", "sync <user> <platform…|all>",
         "Sync a person to one or more platforms, or to all connected ones.",
         "/mio sync @bob teams", "mio sync bob@acme.test zoom", _parse_sync, confirm="Sync"),
    Spec("unsync", "unsync <user> <platform>",
         "Remove a person's sync to one platform.", "/mio unsync @bob teams",
         "mio unsync bob@acme.test zoom", _parse_unsync, confirm="Unsync", danger=True),
    Spec("reset", "reset <user>",
         "Remove all of a person's syncs and their primary choice, so you can start over.",
         "/mio reset @bob", "mio reset bob@acme.test", _parse_reset, confirm="Reset",
         danger=True),
    Spec("import", "import [platform]",
         "Re-read the user directory of one platform, or of all connected ones.",
         "/mio import zoom", "mio import slack", _parse_import),
)  # fmt: skip
_BY_NAME: Mapping[str, Spec] = {s.name: s for s in SPECS}
