"""How Slack reads a Web API call and refuses a bad one, for the Slack stand-in.

Slack takes arguments from the query string, a form body or a JSON body alike (slack_sdk mixes
them: platform-apis.md §B.1, §I.12) and answers a refusal with HTTP 200 and an error code. The
Block Kit checks are here so the stand-in rejects what Slack would reject (`invalid_blocks`)
instead of letting an adapter bug through.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

FORM = "application/x-www-form-urlencoded"
MAX_TEXT = 40000
_TEXT_LIMITS = {"header": 150, "section": 3000}
_MAX_BLOCKS = 50
_MAX_ELEMENTS = 25

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Caller:
    """Whose token a call carries: the bot's, or a person's with the scopes they granted."""

    user_id: str
    token: str
    is_bot: bool
    scopes: frozenset[str] = frozenset()


class SlackError(Exception):
    """Slack's answer to a call it refuses: `{"ok": false, "error": code, ...extra}`."""

    def __init__(self, code: str, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.status, self.extra = code, status, extra

    def response(self) -> web.Response:
        return web.json_response(
            {"ok": False, "error": self.code, **self.extra}, status=self.status
        )


async def arguments(request: web.Request) -> dict[str, Any]:
    """Query string, then the form or JSON body on top, as Slack merges them."""
    args: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if not raw:
        return args
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise SlackError("invalid_json") from exc
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        args.update(body)
    elif request.content_type in (FORM, ""):
        args.update(parse_qsl(raw.decode(), keep_blank_values=True))
    return args


def bearer_token(request: web.Request, args: dict[str, Any]) -> str:
    """The caller's token: the Authorization header, or the legacy `token` argument."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return str(args.get("token", ""))


def basic_auth(request: web.Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic, as slack_sdk sends them to oauth.v2.access."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def sign(secret: str, body: bytes, ts: int) -> dict[str, str]:
    """Slack's v0 request signature headers (§A.1)."""
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def content(args: dict[str, Any], previous: Blocks | None = None) -> tuple[str, Blocks]:
    """(text, blocks) of a post or an update; an update without `blocks` keeps the old (§I.17)."""
    text = str(args.get("text") or "")
    blocks = _blocks(args["blocks"]) if "blocks" in args else list(previous or [])
    if not text and not blocks:
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text, blocks


def find_button(blocks: Blocks, action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(actions block, button) for `action_id`, as a click in the client would find them."""
    for block in blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return block, element
    raise LookupError(f"no button {action_id!r} in the message")


def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("offset:"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SlackError("invalid_cursor") from exc


def int_arg(value: Any, *, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_arguments") from exc


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _blocks(raw: Any) -> Blocks:
    try:
        blocks = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise SlackError("invalid_blocks_format") from exc
    problems = block_problems(blocks)
    if problems:
        raise SlackError("invalid_blocks", errors=problems)
    return list(blocks)


def block_problems(blocks: Any) -> list[str]:
    """What Slack would complain about in `blocks` (the subset of Block Kit the bot uses)."""
    if not isinstance(blocks, list) or len(blocks) > _MAX_BLOCKS:
        return [f"blocks must be a list of at most {_MAX_BLOCKS} blocks"]
    problems: list[str] = []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"[{i}] must be an object with a type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids or not 0 < len(str(block_id)) <= 255:
                problems.append(f"[{i}].block_id is duplicated or too long")
            block_ids.add(str(block_id))
        limit = _TEXT_LIMITS.get(block["type"])
        text = (block.get("text") or {}).get("text", "")
        if limit is not None and not 0 < len(text) <= limit:
            problems.append(f"[{i}].text must be 1–{limit} characters")
        if block["type"] == "actions":
            problems += _element_problems(i, block.get("elements") or [])
    return problems


def _element_problems(i: int, elements: list[Any]) -> list[str]:
    if not 0 < len(elements) <= _MAX_ELEMENTS:
        return [f"[{i}].elements must hold 1–{_MAX_ELEMENTS} elements"]
    problems: list[str] = []
    for j, element in enumerate(elements):
        where = f"[{i}].elements[{j}]"
        if not isinstance(element, dict) or element.get("type") != "button":
            continue
        if not 0 < len(element.get("action_id", "")) <= 255:
            problems.append(f"{where}.action_id must be 1–255 characters")
        if not 0 < len((element.get("text") or {}).get("text", "")) <= 75:
            problems.append(f"{where}.text must be 1–75 characters")
        if "value" in element and not 0 < len(element["value"]) <= 2000:
            problems.append(f"{where}.value must be 1–2000 characters")
        if element.get("style") not in (None, "primary", "danger"):
            problems.append(f"{where}.style must be primary or danger")
    return problems
