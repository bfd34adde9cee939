"""A stand-in for Zoom: OAuth, the users directory, chatbot messages and signed webhook delivery.

It behaves like the parts of Zoom the bot uses (platform-apis.md §A.4, B.4, C.4, D.4, E.4, F.4,
§I.24–I.28): two kinds of app token that really expire and are not interchangeable, single-use
codes and refresh tokens, Zoom's three error shapes, 201 on sends, and edits applied in place.
It also acts as the people in the org: it signs and delivers slash commands and button presses
to the bot exactly as Zoom would, so tests exercise the bot's real verifier.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sandbox.zoom.chat import ZoomUserChat
from sandbox.zoom.inbox_view import ZoomInboxView
from sandbox.zoom.messages import ZoomMessages
from sandbox.zoom.oauth import ZoomOAuth
from sandbox.zoom.users import ZoomUsers


class ZoomSandbox(ZoomOAuth, ZoomUsers, ZoomMessages, ZoomUserChat, ZoomInboxView):
    """Zoom for one account: `env()` points the bot here; `bot_url` points us at the bot.

    Its parts live in this package's modules (OAuth, users, chatbot messages, people's 1:1
    chats and the login app's events, deliveries, inbox view). It is a `RelayStandIn`.
    """

    def env(self) -> dict[str, str]:
        return {
            "ZOOM_ACCOUNT_ID": self.account_id,
            "ZOOM_CLIENT_ID": self.client_id,
            "ZOOM_CLIENT_SECRET": self.client_secret,
            "ZOOM_BOT_JID": self.bot_jid,
            "ZOOM_WEBHOOK_SECRET": self.webhook_secret,
            "ZOOM_S2S_CLIENT_ID": self.s2s_client_id,
            "ZOOM_S2S_CLIENT_SECRET": self.s2s_client_secret,
            "ZOOM_LOGIN_CLIENT_ID": self.login_client_id,
            "ZOOM_LOGIN_CLIENT_SECRET": self.login_client_secret,
            "ZOOM_LOGIN_WEBHOOK_SECRET": self.login_webhook_secret,
            "ZOOM_API_URL": f"{self.url}/v2/",
            "ZOOM_OAUTH_URL": f"{self.url}/oauth/",
        }

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/oauth/authorize", self._authorize_page)
        app.router.add_post("/oauth/authorize", self._authorize_decision)
        app.router.add_post("/oauth/revoke", self._revoke)
        app.router.add_get("/v2/users", self._list_users)
        app.router.add_get("/v2/users/me", self._me)
        app.router.add_get("/v2/users/{user_id}", self._get_user)
        app.router.add_post("/v2/im/chat/messages", self._send)
        app.router.add_put("/v2/im/chat/messages/{message_id}", self._edit)
        app.router.add_delete("/v2/im/chat/messages/{message_id}", self._delete)
        app.router.add_post("/v2/chat/users/me/messages", self._send_dm)
        app.router.add_get("/v2/chat/users/me/messages", self._list_dms)
        app.router.add_get("/v2/chat/users/me/messages/{message_id}", self._get_dm)
        app.router.add_get("/v2/chat/users/me/sessions", self._sessions)
        app.router.add_get("/inbox/{user_id}", self._inbox_page)
        app.router.add_post("/inbox/{user_id}/press", self._inbox_press)

    # -- test controls -----------------------------------------------------------------------
    def fault_body(self, status: int, path: str) -> Any:
        if path.startswith("/oauth/"):
            return {
                "reason": f"HTTP {status}",
                "error": "server_error" if status >= 500 else "invalid_request",
            }
        if status == 429:
            return {
                "code": 429,
                "message": "You have reached the maximum per-second rate limit for this API. "
                "Try again later.",
            }
        return {"code": status, "message": "Internal Error" if status >= 500 else f"HTTP {status}"}

    def rate_limit(
        self, path: str, *, daily: bool = False, times: int = 1, skip: int = 0
    ) -> datetime | None:
        """Make `path` answer 429 like Zoom: per-second (no Retry-After) or daily (a date-time),
        after `skip` requests were served (§I.24)."""
        if not daily:
            self.fail(
                path,
                429,
                times=times,
                skip=skip,
                headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Category": "Medium"},
            )
            return None
        reset = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.fail(
            path,
            429,
            times=times,
            skip=skip,
            headers={
                "X-RateLimit-Type": "Daily-limit",
                "X-RateLimit-Category": "Medium",
                "X-RateLimit-Limit": "2000",
                "X-RateLimit-Remaining": "0",
                "Retry-After": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            body={
                "code": 429,
                "message": "You have reached the maximum daily rate limit for this API.",
            },
        )
        return reset

    def expire_tokens(self, kind: str | None = None) -> None:
        """Make issued tokens (of one kind, or all) expire now, as if Zoom rotated them."""
        for token in self._tokens.values():
            if kind is None or token.kind == kind:
                token.expires_at = 0.0
