"""The kinds of outbox row: one dataclass each, holding what its row says and how it is done.

A row stores its kind's `name`; `KINDS` maps the name back to the class, so the worker
(`bot.delivery`) runs any row the same way: `load` it, `run` it, then `done` or `failed` in the
transaction that finishes the row. Background work that must survive a crash (an import
someone asked for, giving back a sign-in token) is a kind like any platform call: any process's
worker claims it, and a process that dies mid-way leaves it to the next claim.

`routing()` is what stays readable in the row (where it goes, whom it concerns); `sealed()` is
encrypted with MIO_SECRET_KEY, because message texts, reply URLs and tokens are each enough
to act as the person. A row's data, when it is run, is both merged (`bot.outbox.unseal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self, override

from sqlalchemy.ext.asyncio import AsyncSession

from bot import codec
from bot.core import Core
from bot.outbox_base import Kind as Kind
from bot.outbox_base import Queued as Queued
from bot.outbox_base import Result as Result
from bot.relay.kinds import RelayCapture, RelayPost
from bot.types import (
    DirectoryUser,
    Identity,
    Message,
    MessageRef,
    PermanentFailure,
    PlatformUserId,
    ReplyTarget,
    TokenGrant,
)
from store.repositories import Audit


@dataclass(frozen=True)
class SendDm(Kind):
    name: ClassVar[str] = "send_dm"
    user: DirectoryUser
    message: Message

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(codec.load_user(data["user"]), codec.load_message(data["message"]))

    @override
    def routing(self) -> dict[str, Any]:
        return {"user": codec.dump(self.user)}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return {"message": codec.dump(self.message)}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        ref = await core.platforms[row.platform].send_dm(self.user, self.message)
        return {"ref": codec.dump(ref)}

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        from bot import lifecycle  # lifecycle queues rows itself

        if row.sync_id is not None:
            await lifecycle.remember_dm(session, row.sync_id, result["ref"])

    @override
    async def failed(self, session: AsyncSession, core: Core, row: Queued, reason: str) -> None:
        from bot import lifecycle
        from bot.sync import Event

        if row.sync_id is not None:
            await lifecycle.fail_sync(
                session, core, row.sync_id, Event.UNDELIVERABLE, detail=reason, notify=False
            )


@dataclass(frozen=True)
class UpdateDm(Kind):
    name: ClassVar[str] = "update_dm"
    ref: MessageRef
    message: Message

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(codec.load_ref(data["ref"]), codec.load_message(data["message"]))

    @override
    def routing(self) -> dict[str, Any]:
        return {"ref": codec.dump(self.ref)}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return {"message": codec.dump(self.message)}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        await core.platforms[row.platform].update_message(self.ref, self.message)
        return {}


@dataclass(frozen=True)
class Reply(Kind):
    name: ClassVar[str] = "reply"
    target: ReplyTarget
    message: Message

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(codec.load_target(data["target"]), codec.load_message(data["message"]))

    @override
    def routing(self) -> dict[str, Any]:
        return {"platform": self.target.platform}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return {"target": codec.dump(self.target), "message": codec.dump(self.message)}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        await core.platforms[row.platform].reply(self.target, self.message)
        return {}


def grant_data(grant: TokenGrant) -> dict[str, Any]:
    """A grant as it is kept encrypted (the form `Grants` stores and revocations carry); its
    expiry too, so the relay knows when to refresh it."""
    return {
        "user_id": grant.identity.user_id,
        "email": grant.identity.email,
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "scope": grant.scope,
        "expires_at": None if grant.expires_at is None else grant.expires_at.isoformat(),
    }


def load_grant(data: dict[str, Any], expires_at: datetime | None = None) -> TokenGrant:
    """A grant back from `grant_data`; `expires_at` (the row's column) where the sealed data
    has none (grants stored before it was kept there)."""
    if "access_token" not in data:
        raise PermanentFailure("outbox", "grant without tokens")
    sealed_expiry = data.get("expires_at")
    return TokenGrant(
        identity=Identity(PlatformUserId(data["user_id"]), data.get("email")),
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token"),
        expires_at=datetime.fromisoformat(sealed_expiry) if sealed_expiry else expires_at,
        scope=data.get("scope", ""),
    )


@dataclass(frozen=True)
class Revoke(Kind):
    """Give back the tokens of a grant that was removed (unsync, reset)."""

    name: ClassVar[str] = "revoke"
    person_id: int | None
    grant: dict[str, Any]

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(data.get("person_id"), {k: v for k, v in data.items() if k != "person_id"})

    @override
    def routing(self) -> dict[str, Any]:
        return {"person_id": self.person_id}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return self.grant

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        return {"outcome": await core.platforms[row.platform].revoke(load_grant(self.grant))}

    @override
    async def done(self, session: AsyncSession, core: Core, row: Queued, result: Result) -> None:
        Audit(session).add(
            core.clock.now(), "system", "grant.revoked", self.person_id, outcome=result["outcome"]
        )


@dataclass(frozen=True)
class RevokeSignIn(Kind):
    """Give back a Hub sign-in's token: signing in needs the identity only."""

    name: ClassVar[str] = "revoke_sign_in"
    grant: dict[str, Any]

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(dict(data))

    @override
    def sealed(self) -> dict[str, Any] | None:
        return self.grant

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        return {"outcome": await core.platforms[row.platform].revoke(load_grant(self.grant))}


@dataclass(frozen=True)
class ImportAndReport(Kind):
    """An import asked for in chat: import each platform, then answer where it was asked."""

    name: ClassVar[str] = "import"
    paced: ClassVar[bool] = False  # pages are paced by the directory's own gate
    background: ClassVar[bool] = True
    platforms: tuple[str, ...]
    actor: str
    target: ReplyTarget

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(tuple(data["platforms"]), data["actor"], codec.load_target(data["target"]))

    @override
    def routing(self) -> dict[str, Any]:
        return {"platforms": list(self.platforms), "actor": self.actor}

    @override
    def sealed(self) -> dict[str, Any] | None:
        return {"target": codec.dump(self.target)}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        from bot.usecases import imports  # the use case queues rows itself

        # The answer's key is the row's, so a rerun after a crash answers once.
        await imports.import_and_report(
            core, self.platforms, self.actor, self.target, key=f"outbox:{row.id}:report"
        )
        return {}


@dataclass(frozen=True)
class RunImport(Kind):
    """An import whose guard the Hub already took (so a second one was refused at once)."""

    name: ClassVar[str] = "import_run"
    paced: ClassVar[bool] = False
    background: ClassVar[bool] = True
    run_id: str
    actor: str

    @classmethod
    def load(cls, data: dict[str, Any]) -> Self:
        return cls(data["run_id"], data["actor"])

    @override
    def routing(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "actor": self.actor}

    @override
    async def run(self, core: Core, row: Queued) -> Result:
        from bot.directory import ImportTicket
        from bot.usecases import imports

        await imports.finish(core, ImportTicket(row.platform, self.run_id, self.actor))
        return {}


KINDS: dict[str, type[Kind]] = {
    kind.name: kind
    for kind in (
        SendDm,
        UpdateDm,
        Reply,
        Revoke,
        RevokeSignIn,
        ImportAndReport,
        RunImport,
        RelayPost,
        RelayCapture,
    )
}
