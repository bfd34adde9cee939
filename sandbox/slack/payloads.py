"""The JSON, forms and pages the Slack stand-in produces, shaped like Slack's own.

Pure builders: the stand-in owns the state, these only know the wire shapes (platform-apis.md
§C.1 block_actions, §D.1 slash command form, §E.1 users.list member, the Events API envelope).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from html import escape
from typing import Any

from sandbox.org import OrgAccount

SLACKBOT = "USLACKBOT"


@dataclass(frozen=True)
class Workspace:
    """The fixed facts of the stand-in workspace that appear in every payload."""

    team_id: str
    team_name: str
    team_domain: str
    app_id: str
    app_name: str
    bot_user_id: str
    bot_id: str
    verification_token: str  # the legacy `token` field Slack still puts in payloads


@dataclass
class SandboxMessage:
    """One message in a DM, edited in place by chat.update or a response_url `replace_original`."""

    channel: str
    ts: str
    user: str  # the author: the bot's user id for the bot's messages
    text: str
    blocks: list[dict[str, Any]]
    edited: int = 0
    thread_ts: str | None = None
    # Posted through the Web API with a person's user token: Slack marks it with the app's
    # `app_id` and a per-authorisation `bot_id` that is not the bot's (relay-apis §1.6).
    by_app: bool = False
    username: str | None = None  # chat:write.customize (bot token only, relay-apis §1.7)
    icon_url: str | None = None


def member(ws: Workspace, account: OrgAccount) -> dict[str, Any]:
    handle = (account.email or account.name).split("@")[0].strip().lower().replace(" ", ".")
    profile: dict[str, Any] = {"real_name": account.name, "display_name": handle}
    if account.email:
        profile["email"] = account.email
    if account.is_bot:
        profile["bot_id"] = "B" + account.user_id[1:]
    return {
        "id": account.user_id,
        "team_id": ws.team_id,
        "name": handle,
        "deleted": not account.active,
        "real_name": account.name,
        "tz": "Europe/London",
        "profile": profile,
        "is_admin": account.is_admin,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": account.is_guest,
        "is_ultra_restricted": False,
        "is_bot": account.is_bot,
        "is_app_user": False,
        "updated": 1700000000,
    }


def built_in_members(ws: Workspace) -> list[dict[str, Any]]:
    """Slackbot (`is_bot: false`, no email: §I.19) and the app's bot user, as Slack lists them."""
    slackbot = {
        "id": SLACKBOT,
        "team_id": ws.team_id,
        "name": "slackbot",
        "deleted": False,
        "real_name": "Slackbot",
        "is_bot": False,
        "is_app_user": False,
        "profile": {"real_name": "Slackbot", "display_name": "Slackbot"},
    }
    bot = {
        "id": ws.bot_user_id,
        "team_id": ws.team_id,
        "name": "mio_user_sync",
        "deleted": False,
        "real_name": "Mio User Sync",
        "is_bot": True,
        "is_app_user": False,
        "profile": {"real_name": "Mio User Sync", "display_name": "", "bot_id": ws.bot_id},
    }
    return [slackbot, bot]


def message_json(ws: Workspace, message: SandboxMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "text": message.text,
        "blocks": message.blocks,
        "ts": message.ts,
        "team": ws.team_id,
    }
    if message.user == ws.bot_user_id:
        body |= {"bot_id": ws.bot_id, "app_id": ws.app_id}
    elif message.by_app:
        body |= {"bot_id": user_token_bot_id(message.user), "app_id": ws.app_id}
    if message.username:
        body |= {"username": message.username, "subtype": "bot_message"}
        body |= {"icons": {"image_48": message.icon_url}} if message.icon_url else {}
    if message.thread_ts:
        body["thread_ts"] = message.thread_ts
    return body


def user_token_bot_id(user_id: str) -> str:
    """The per-authorisation bot profile Slack attaches to a user-token post (§1.6)."""
    return "B0U" + user_id.removeprefix("U").removeprefix("W")


def user_event(ws: Workspace, event_id: str, message: SandboxMessage, owner: str) -> dict[str, Any]:
    """`message.im` delivered "on behalf of users" (relay-apis §1.1): the event as a bot event
    would carry it, with ONE authorization, the user `owner` (truncated since 2021)."""
    event = {k: v for k, v in message_json(ws, message).items() if k != "blocks"}
    event |= {"channel": message.channel, "event_ts": message.ts, "channel_type": "im"}
    if not message.by_app:
        event["client_msg_id"] = str(uuid.uuid4())
    body = envelope(ws, event_id, event)
    body["authorizations"] = [_authorization(ws, owner, is_bot=False)]
    return body


def tokens_revoked(ws: Workspace, event_id: str, user_ids: list[str]) -> dict[str, Any]:
    """The `tokens_revoked` event: `tokens.oauth` names the people whose tokens went."""
    event = {
        "type": "tokens_revoked",
        "tokens": {"oauth": user_ids, "bot": []},
        "event_ts": f"{time.time():.6f}",
    }
    return envelope(ws, event_id, event)


def slash_command_form(
    ws: Workspace,
    user: dict[str, Any],
    *,
    channel: str,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    """The form fields in the order Slack sends them (§D.1)."""
    return {
        "token": ws.verification_token,
        "team_id": ws.team_id,
        "team_domain": ws.team_domain,
        "channel_id": channel,
        "channel_name": "directmessage",
        "user_id": user["id"],
        "user_name": user["name"],
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions(
    ws: Workspace,
    user: dict[str, Any],
    message: SandboxMessage,
    action: dict[str, Any],
    *,
    ephemeral: bool,
    response_url: str,
    trigger_id: str,
) -> dict[str, Any]:
    """A block_actions payload for one button click in a DM (§C.1).

    A click in an ephemeral message (a command's answer) says so in `container` and carries no
    `message`, as on Slack: the app never sees ephemeral messages' content.
    """
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user["id"],
            "username": user["name"],
            "name": user["name"],
            "team_id": ws.team_id,
        },
        "api_app_id": ws.app_id,
        "token": ws.verification_token,
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "directmessage"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    return payload if ephemeral else payload | {"message": message_json(ws, message)}


def button_action(block: dict[str, Any], button: dict[str, Any], action_ts: str) -> dict[str, Any]:
    """The `actions[0]` of a click: the button as sent, plus where it sat and when."""
    action = {
        "action_id": button["action_id"],
        "block_id": block.get("block_id", ""),
        "text": button["text"],
        "type": "button",
        "action_ts": action_ts,
    }
    return action | {k: button[k] for k in ("value", "style", "url") if k in button}


def im_event(ws: Workspace, event_id: str, message: SandboxMessage) -> dict[str, Any]:
    """An Events API `event_callback` for a message someone wrote to the bot (message.im)."""
    event: dict[str, Any] = {
        "type": "message",
        "client_msg_id": str(uuid.uuid4()),
        "text": message.text,
        "user": message.user,
        "ts": message.ts,
        "team": ws.team_id,
        "channel": message.channel,
        "event_ts": message.ts,
        "channel_type": "im",
    }
    if message.thread_ts:
        event["thread_ts"] = message.thread_ts
    return envelope(ws, event_id, event)


def envelope(ws: Workspace, event_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": ws.verification_token,
        "team_id": ws.team_id,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [_authorization(ws, ws.bot_user_id, is_bot=True)],
        "is_ext_shared_channel": False,
    }


def _authorization(ws: Workspace, user_id: str, *, is_bot: bool) -> dict[str, Any]:
    return {
        "enterprise_id": None,
        "team_id": ws.team_id,
        "user_id": user_id,
        "is_bot": is_bot,
        "is_enterprise_install": False,
    }


def authorize_page(
    ws: Workspace, people: list[dict[str, Any]], scopes: list[str], action: str
) -> str:
    options = "".join(
        f'<option value="{escape(u["id"])}">{escape(u.get("real_name", u["id"]))}</option>'
        for u in people
    )
    items = "".join(f"<li>{escape(s)}</li>" for s in scopes)
    return page(
        f"<h1>{escape(ws.app_name)} is requesting permission to access the "
        f"{escape(ws.team_name)} Slack workspace</h1>"
        f"<p>It will be able to act on your behalf:</p><ul>{items}</ul>"
        f'<form method="post" action="{escape(action)}">'
        f'<label>Signed in as <select name="user_id">{options}</select></label> '
        '<button name="decision" value="allow">Allow</button> '
        '<button name="decision" value="deny">Cancel</button></form>'
    )


def inbox_page(
    ws: Workspace, user: dict[str, Any], messages: list[SandboxMessage], notices: list[str]
) -> str:
    """A person's DM with the bot, with working buttons, the answers only they can see
    (`notices`: command acks and response_url posts), and a box to type `/mio …`."""
    uid = escape(user["id"])
    cards = []
    for message in messages:
        buttons = "".join(_inbox_button(uid, message, b) for b in _buttons(message))
        lines = "".join(
            f"<p>{escape(_block_text(b))}</p>" for b in message.blocks if _block_text(b)
        )
        edited = " (edited)" if message.edited else ""
        cards.append(
            f"<article>{lines or f'<p>{escape(message.text)}</p>'}"
            f"<small>{escape(message.ts)}{edited}</small><div>{buttons}</div></article>"
        )
    name = escape(user.get("real_name", user["id"]))
    return page(
        f"<h1>{name}'s DM with {escape(ws.app_name)}</h1>"
        f"{''.join(cards) or '<p>No messages.</p>'}"
        + "".join(f"<aside><em>Only visible to you:</em> {escape(n)}</aside>" for n in notices)
        + f'<form method="post" action="/inbox/{uid}/command">'
        f'<label>/mio <input name="text" size="40"></label> <button>Send</button></form>'
    )


def page(body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Slack</title></head>"
        f"<body>{body}</body></html>"
    )


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _buttons(message: SandboxMessage) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


def _inbox_button(uid: str, message: SandboxMessage, button: dict[str, Any]) -> str:
    return (
        f'<form method="post" action="/inbox/{uid}/press" style="display:inline">'
        f'<input type="hidden" name="channel" value="{escape(message.channel)}">'
        f'<input type="hidden" name="ts" value="{escape(message.ts)}">'
        f'<button name="action_id" value="{escape(button.get("action_id", ""))}">'
        f"{escape((button.get('text') or {}).get('text', ''))}</button></form>"
    )


def _block_text(block: dict[str, Any]) -> str:
    return str((block.get("text") or {}).get("text", ""))
