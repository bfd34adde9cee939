"""What the bot says to people, platform-neutral; adapters render it natively."""

from __future__ import annotations

from bot.types import Button, ButtonStyle, Message, Rich, Text

ALLOW = "mio:consent:allow"
DECLINE = "mio:consent:decline"
CONFIRM = "mio:confirm"
CANCEL = "mio:cancel"


def consent_request(
    name: str, primary: str, secondary: str, token: str, *, reminder: int = 0
) -> Message:
    intro = "Reminder: " if reminder else ""
    return Message(
        text=f"{intro}Allow Mio to link your {secondary} account so people on {secondary} "
        f"can message you from {primary}?",
        title=f"{intro}Link your {secondary} account",
        lines=(
            Text.format(
                "Hi {name}, your admin asked Mio to connect your *{secondary}* account, so that "
                "colleagues on {secondary} can send you direct messages that reach you here on "
                "{primary}.",
                name=name,
                secondary=secondary,
                primary=primary,
            ),
            f"Press *Allow* and sign in to {secondary} to finish. Nothing is shared until you do.",
        ),
        buttons=(
            Button("Allow", ALLOW, token, ButtonStyle.PRIMARY),
            Button("Decline", DECLINE, token, ButtonStyle.DANGER),
        ),
        ephemeral=False,
    )


def authorize_step(secondary: str, url: str, *, reminder: bool = False) -> Message:
    intro = "Reminder: " if reminder else ""
    return Message(
        text=f"{intro}Almost done: sign in to {secondary} to link your account: {url}",
        title=f"{intro}Link your {secondary} account",
        lines=(f"Thanks! One last step: sign in to *{secondary}* to confirm it is you.",),
        buttons=(Button(f"Sign in to {secondary}", url=url, style=ButtonStyle.PRIMARY),),
        ephemeral=False,
    )


def outcome(title: str, line: str) -> Message:
    return Message(text=f"{title} {line}", title=title, lines=(line,), ephemeral=False)


def synced(secondary: str) -> Message:
    return outcome(
        f"✅ Linked to {secondary}",
        f"People on {secondary} can now send you direct messages through Mio.",
    )


def failed(secondary: str, sentence: str) -> Message:
    return outcome(f"⚠️ Not linked to {secondary}", sentence)


def withdrawn(secondary: str) -> Message:
    return outcome(
        f"Request withdrawn: {secondary}",
        "An admin withdrew this request. You don't need to do anything.",
    )


def note(text: Rich) -> Message:
    """A short answer only the person who acted sees."""
    return Message(text=text, lines=(text,))


def plain_note(sentence: str) -> Message:
    """A sentence written as plain text (the core's answers that the CLI and the Hub show too),
    which may hold names: shown as written on every platform."""
    return note(Text.plain(sentence))


def confirm(
    title: Rich, lines: list[Rich], token: str, label: str = "Confirm", danger: bool = False
) -> Message:
    return Message(
        text=Text.join([title, *lines]),
        title=title,
        lines=tuple(lines),
        buttons=(
            Button(label, CONFIRM, token, ButtonStyle.DANGER if danger else ButtonStyle.PRIMARY),
            Button("Cancel", CANCEL, token),
        ),
    )
