"""Which webhooks the bot needs, and what to change so that exactly those exist.

Webex delivers nothing unless the bot registered webhooks itself (there is no app-level event
URL as on Slack or Zoom). Mio needs two, both pointing at `{MIO_PUBLIC_URL}/webex/events` and
signed with `WEBEX_WEBHOOK_SECRET`: `messages:created` (commands typed to the bot) and
`attachmentActions:created` (card presses). Neither may carry `filter=mentionedPeople=me`,
which never matches in a 1:1 space (§D.3). A PUT may change only name, targetUrl, secret and
status (§F.3), so a webhook with another resource or a filter is deleted, not updated. Every
webhook a bot token lists belongs to the bot, so anything else there is stale and removed:
a duplicate would deliver each event twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adapters.webex.errors import NotFound, call

Kind = Literal["keep", "create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Wanted:
    name: str
    resource: str
    event: str = "created"


WANTED = (
    Wanted("Mio User Sync: messages", "messages"),
    Wanted("Mio User Sync: card presses", "attachmentActions"),
)


@dataclass(frozen=True, slots=True)
class Step:
    """One change to make (or a webhook to leave alone), with the sentence that reports it."""

    kind: Kind
    wanted: Wanted | None
    hook_id: str
    why: str

    def sentence(self, target_url: str) -> str:
        if self.kind == "create" and self.wanted:
            return (
                f"created webhook “{self.wanted.name}” "
                f"({self.wanted.resource}:{self.wanted.event}) → {target_url}."
            )
        if self.kind == "update" and self.wanted:
            return f"updated webhook “{self.wanted.name}” ({self.why})."
        if self.kind == "keep" and self.wanted:
            return (
                f"webhook “{self.wanted.name}” "
                f"({self.wanted.resource}:{self.wanted.event}) is in place."
            )
        return f"deleted webhook {self.hook_id} ({self.why})."


def _describe(hook: Mapping[str, Any]) -> str:
    name = hook.get("name") or hook.get("id")
    return f"“{name}”, {hook.get('resource')}:{hook.get('event')}"


def _problems(hook: Mapping[str, Any], wanted: Wanted, target_url: str, secret: str) -> list[str]:
    problems = []
    if hook.get("targetUrl") != target_url:
        problems.append(f"target URL was {hook.get('targetUrl')}")
    if hook.get("secret") != secret:
        problems.append("secret re-set")
    if hook.get("status", "active") != "active":
        problems.append(f"reactivated from {hook.get('status')}")
    if hook.get("name") != wanted.name:
        problems.append("renamed")
    return problems


def plan(hooks: Sequence[Mapping[str, Any]], target_url: str, secret: str) -> list[Step]:
    """Creates and updates first, deletes last, so events keep flowing during the change."""
    steps: list[Step] = []
    kept: set[str] = set()
    for wanted in WANTED:
        candidates = [
            h
            for h in hooks
            if h.get("resource") == wanted.resource
            and h.get("event") == wanted.event
            and not h.get("filter")
        ]
        # Prefer the webhook that needs the fewest changes.
        candidates.sort(key=lambda h: len(_problems(h, wanted, target_url, secret)))
        if not candidates:
            steps.append(Step("create", wanted, "", "missing"))
            continue
        best = candidates[0]
        kept.add(str(best.get("id")))
        problems = _problems(best, wanted, target_url, secret)
        kind: Kind = "update" if problems else "keep"
        steps.append(Step(kind, wanted, str(best.get("id")), ", ".join(problems)))
    for hook in hooks:
        hook_id = str(hook.get("id"))
        if hook_id in kept:
            continue
        wanted_kinds = {(w.resource, w.event) for w in WANTED}
        if (hook.get("resource"), hook.get("event")) not in wanted_kinds:
            why = f"{_describe(hook)}: not an event Mio uses"
        elif hook.get("filter"):
            why = f"{_describe(hook)}: filter {hook.get('filter')} would drop events"
        else:
            why = f"{_describe(hook)}: duplicate"
        steps.append(Step("delete", None, hook_id, why))
    return steps


async def reconcile(bot: Any, target_url: str, secret: str) -> list[str]:
    """Apply `plan` with the bot's `WebexAPI`; returns one sentence per webhook."""
    hooks = await call(lambda: list(bot.webhooks.list(max=100)))
    said = []
    for step in plan(hooks, target_url, secret):
        wanted = step.wanted
        if step.kind == "create" and wanted:
            await call(
                bot.webhooks.create,
                name=wanted.name,
                targetUrl=target_url,
                resource=wanted.resource,
                event=wanted.event,
                secret=secret,
            )
        elif step.kind == "update" and wanted:
            # The SDK's update() has no `secret` parameter: it travels as an extra field.
            await call(
                bot.webhooks.update,
                step.hook_id,
                name=wanted.name,
                targetUrl=target_url,
                secret=secret,
                status="active",
            )
        elif step.kind == "delete":
            with contextlib.suppress(NotFound):  # already gone: the goal is reached
                await call(bot.webhooks.delete, step.hook_id)
        said.append(step.sentence(target_url))
    return said
