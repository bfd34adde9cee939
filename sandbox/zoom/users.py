"""Zoom's users REST API for the stand-in: paging with opaque tokens, scopes per token kind."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from sandbox.zoom.model import (
    SandboxUser,
)
from sandbox.zoom.state import ZoomState


class ZoomUsers(ZoomState):
    """`/v2/users`, `/v2/users/me` and `/v2/users/{id}` with Zoom's scope errors."""

    async def _list_users(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        if auth[1].kind != "s2s":
            return self._missing_scope("user:read:admin, user:read:list_users:admin")
        status = request.query.get("status", "active")
        if status not in ("active", "inactive", "pending"):
            return web.json_response(
                {"code": 300, "message": f"Invalid status: {status}"}, status=400
            )
        try:
            page_size = min(int(request.query.get("page_size", "30")), 300, self.max_page_size)
        except ValueError:
            return web.json_response({"code": 300, "message": "Invalid page_size"}, status=400)
        page_size = max(page_size, 1)
        offset = 0
        if next_token := request.query.get("next_page_token", ""):
            entry = self._pages.pop(next_token, None)
            if entry is None or entry[0] != status:
                return web.json_response(
                    {"code": 300, "message": "Invalid next_page_token"}, status=400
                )
            offset = entry[1]
        # Pending users never have an id (§E.4); the seeded org has none.
        matching = [u for u in self.users.values() if u.status == status]
        page = matching[offset : offset + page_size]
        following = ""
        if offset + page_size < len(matching):
            following = secrets.token_urlsafe(24)
            self._pages[following] = (status, offset + page_size)
        return web.json_response(
            {
                "page_count": max(1, -(-len(matching) // page_size)),
                "page_number": offset // page_size + 1,
                "page_size": page_size,
                "total_records": len(matching),
                "next_page_token": following,
                "users": [u.listing() for u in page],
            }
        )

    def _profile(self, user: SandboxUser) -> dict[str, Any]:
        role_names = {"0": "Owner", "1": "Admin", "2": "Member"}
        return {
            **user.listing(),
            "jid": user.jid,
            "account_id": self.account_id,
            "role_name": role_names.get(user.role_id, "Member"),
        }

    async def _me(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        if auth[1].kind != "user":
            return self._missing_scope("user:read, user:read:user")
        return web.json_response(self._profile(self.users[auth[1].user_id]))

    async def _get_user(self, request: web.Request) -> web.Response:
        auth = self._bearer(request)
        if isinstance(auth, web.Response):
            return auth
        wanted = request.match_info["user_id"]
        user = self.users.get(wanted) or next(
            (u for u in self.users.values() if u.email and u.email.lower() == wanted.lower()), None
        )
        if auth[1].kind == "chatbot" or (
            auth[1].kind == "user" and (user is None or user.id != auth[1].user_id)
        ):
            return self._missing_scope("user:read:admin")
        if user is None:
            return web.json_response(
                {"code": 1001, "message": f"User does not exist: {wanted}."}, status=404
            )
        return web.json_response(self._profile(user))
