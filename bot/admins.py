"""Who is a Mio admin: the one rule that chat commands, the Hub and the CLI all ask.

An admin is a person, never a bot or a guest, acting through an active account:
- an account counts when its email is in MIO_ADMINS or its platform marks it an admin
  (Slack owner/admin, an Entra Teams/Global Administrator, a Webex full or user administrator,
  a Zoom Owner/Admin: each adapter decides `is_admin`, and only those roles);
- an email (a `mio hub-link --as` session) counts when it is in MIO_ADMINS or one of its active
  accounts is a platform admin, unless every account with that email has been deactivated or
  deleted: someone who left loses access even if MIO_ADMINS still names them. An email in
  MIO_ADMINS with no account at all still counts, so a fresh install can be set up.

The Hub asks again on every request, so a removed admin loses access on their next click.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.matching import normalize_email
from store.hub_queries import accounts_with_email
from store.models import Account
from store.repositories import Directory

OPERATOR = "cli"  # a `mio hub-link` without `--as`: whoever runs the server's own CLI


def account_is_admin(admins: Collection[str], account: Account | None) -> bool:
    """The rule for one account (a chat caller, a platform sign-in)."""
    if account is None or not account.is_active or account.is_bot or account.is_guest:
        return False
    return account.is_admin or normalize_email(account.email) in admins


def email_is_admin(admins: Collection[str], email: str, accounts: Sequence[Account]) -> bool:
    """The rule for an email, given every account that carries it."""
    email = normalize_email(email) or ""
    people = [a for a in accounts if not a.is_bot and not a.is_guest]
    if people and not any(a.is_active for a in people):
        return False  # every account they had is deactivated or deleted
    return email in admins or any(account_is_admin(admins, a) for a in people)


async def actor_is_admin(session: AsyncSession, admins: Collection[str], actor: str) -> bool:
    """Whether the identity a Hub session was opened for is (still) an admin.

    `actor` is what the session records: an email, `<platform>:<user id>` for an account
    without one, or the operator.
    """
    if actor == OPERATOR:
        return True
    email = normalize_email(actor)
    if email is not None:
        return email_is_admin(admins, email, await accounts_with_email(session, email))
    platform, _, user_id = actor.partition(":")
    if not user_id:
        return False
    return account_is_admin(admins, await Directory(session).account(platform, user_id))
