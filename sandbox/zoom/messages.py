"""Zoom's chatbot messages for the stand-in: sends answer 201, edits apply in place (§I.27)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.zoom.model import (
    BAD_BODY,
    CHATBOT_UNAUTHORIZED,
    SandboxMessage,
)
from sandbox.zoom.state import ZoomState


class ZoomMessages(ZoomState):
    """`/v2/im/chat/messages` with the error codes Zoom gives for each malformed field."""

    async def _chatbot_body(
        self, request: web.Request, required: tuple[str, ...]
    ) -> dict[str, Any] | web.Response:
        """The validated JSON body of a chatbot call, or the error Zoom would answer."""
        auth = self._bearer(request)
        if isinstance(auth, web.Response) or auth[1].kind != "chatbot":
            return web.json_response(CHATBOT_UNAUTHORIZED, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(BAD_BODY, status=400)
        if not isinstance(body, dict) or any(not body.get(k) for k in required):
            return web.json_response(BAD_BODY, status=400)
        if not isinstance(body["content"], dict) or not (
            body["content"].get("head") or body["content"].get("body")
        ):
            return web.json_response(BAD_BODY, status=400)
        robot = str(body["robot_jid"])
        if "@" not in robot:
            return web.json_response(
                {"code": 7002, "message": "Invalid robot_jid value specified in the Request Body."},
                status=404,
            )
        if robot != self.bot_jid:
            return web.json_response(
                {
                    "code": 7003,
                    "message": "No Chatbot can be found with the given robot_jid value.",
                },
                status=403,
            )
        if body["account_id"] != self.account_id:
            return web.json_response({"code": 7004, "message": "Not authorized."}, status=403)
        return body

    def _active_jid(self, jid: str) -> bool:
        return any(u.jid == jid and u.status == "active" for u in self.users.values())

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._chatbot_body(
            request, ("robot_jid", "to_jid", "account_id", "content", "user_jid")
        )
        if isinstance(body, web.Response):
            return body
        if not self._active_jid(body["to_jid"]):
            return web.json_response(
                {
                    "code": 7004,
                    "message": "No channel or user can be found with the given to_jid value.",
                },
                status=403,
            )
        message = SandboxMessage(
            message_id=str(uuid.uuid4()).upper(),
            to_jid=body["to_jid"],
            user_jid=body["user_jid"],
            content=body["content"],
            sent_time=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
        self._messages[message.message_id] = message
        return web.json_response(
            {
                "message_id": message.message_id,
                "robot_jid": self.bot_jid,
                "to_jid": message.to_jid,
                "sent_time": message.sent_time,
                "user_jid": message.user_jid,
            },
            status=201,
        )

    def _message_answer(self, message: SandboxMessage) -> web.Response:
        return web.json_response(
            {
                "message_id": message.message_id,
                "robot_jid": self.bot_jid,
                "sent_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000"),
                "to_jid": message.to_jid,
                "user_jid": message.user_jid,
            }
        )

    async def _edit(self, request: web.Request) -> web.Response:
        body = await self._chatbot_body(request, ("robot_jid", "account_id", "content"))
        if isinstance(body, web.Response):
            return body
        message = self._messages.get(request.match_info["message_id"])
        if message is None:
            return web.json_response(
                {"code": 8001, "message": "Invalid message_id value."}, status=404
            )
        message.content = body["content"]
        message.edited += 1
        return self._message_answer(message)

    async def _delete(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response) or auth[1].kind != "chatbot":
            return web.json_response(CHATBOT_UNAUTHORIZED, status=401)
        q = request.query
        if q.get("robot_jid") != self.bot_jid or q.get("account_id") != self.account_id:
            return web.json_response({"code": 7004, "message": "Not authorized."}, status=403)
        message = self._messages.pop(request.match_info["message_id"], None)
        if message is None:
            return web.json_response({"code": 8001, "message": "Invalid message_id."}, status=404)
        return self._message_answer(message)
