"""The one place Teams' wire errors become `RetryLater` or `PermanentFailure`.

Three Microsoft surfaces answer in their own shapes (platform-apis.md §I.2, §I.20):
the Bot Connector (`{"error": {"code", "message"}}`, a bare `{"message"}` on 401, and the
`{"errorCode": 209, "message": "<JSON string with subCode>"}` of a blocked chat), Microsoft
Graph (`{"error": {"code", "message"}}`), and the Microsoft identity platform's token endpoint
(`{"error", "error_description"}`). Teams' retry guidance (msteams-docs, "Status codes from bot
conversational APIs") retries only 412, 429 and 5xx; everything else is final.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.paging import AdminMustFix
from adapters.retry import parse_retry_after
from bot.types import PermanentFailure, Platform, PlatformError, RetryLater

PLATFORM = Platform("teams")

RATE_LIMIT_RETRY = 5.0  # a 429 without Retry-After: Teams asks for backoff, not a number
SERVER_ERROR_RETRY = 10.0  # 412 / 5xx without Retry-After
NETWORK_RETRY = 5.0  # connection refused, reset, timeout
CREDENTIALS_RETRY = 60.0  # the admin must fix TEAMS_APP_*; do not hammer Microsoft meanwhile

# Codes that mean this person's chat with the bot is closed until they act (§I.20).
BLOCKED_CODES = frozenset(
    {"MessageWritesBlocked", "ConversationBlockedByUser", "BotDisabledByAdmin"}
)
NOT_INSTALLED_CODES = frozenset({"ForbiddenOperationException", "BotNotInConversationRoster"})
# Token endpoint errors that are the app's credentials, not the person's code or token.
APP_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


def error_code(body: Any) -> tuple[str, str]:
    """(code, message) from any of the Microsoft error shapes; ("", "") when there is none."""
    if not isinstance(body, Mapping):
        return "", str(body)[:200] if body else ""
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("code") or ""), str(error.get("message") or "")
    if isinstance(error, str):  # the token endpoint
        return error, str(body.get("error_description") or "").split("\r\n")[0]
    if "errorCode" in body:  # a blocked chat: the subCode sits inside a JSON string (§I.20)
        message = str(body.get("message") or "")
        try:
            inner = json.loads(message)
        except ValueError:
            inner = None
        sub_code = inner.get("subCode") if isinstance(inner, Mapping) else None
        return str(sub_code or f"errorCode {body['errorCode']}"), message
    return "", str(body.get("message") or "")


def _describe(status: int, code: str, message: str) -> str:
    return " ".join(part for part in (str(status), code, message) if part).strip()


def to_platform_error(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    exc: BaseException | None = None,
    user_token: bool = False,
    now: datetime | None = None,
) -> PlatformError:
    """Map one failed Microsoft call (an HTTP answer, or `exc` when there was none).

    `user_token` marks calls made with a person's delegated token or code: a 401 there is that
    person's problem (PermanentFailure), while a 401 with the app's own token, or an
    `invalid_client` from the token endpoint, means credentials the admin must fix, so the
    outbox keeps the work and tries again later.
    """
    headers = headers or {}
    if exc is not None or status is None:
        return RetryLater(
            PLATFORM, f"Microsoft unreachable: {type(exc).__name__}: {exc}", after=NETWORK_RETRY
        )
    code, message = error_code(body)
    reason = _describe(status, code, message)
    after = parse_retry_after(headers.get("Retry-After"), now)
    if status == 429:
        wait = RATE_LIMIT_RETRY if after is None else after
        return RetryLater(PLATFORM, f"rate limited: {reason}", after=wait)
    if status == 412 or status >= 500:
        wait = SERVER_ERROR_RETRY if after is None else after
        return RetryLater(PLATFORM, f"Teams busy: {reason}", after=wait)
    if code in BLOCKED_CODES:
        return PermanentFailure(
            PLATFORM,
            f"the person blocked or removed the Mio bot in Teams ({code}); "
            "they must open the chat with Mio again before it can reach them",
        )
    if code in APP_CREDENTIAL_ERRORS or (status == 401 and not user_token):
        return AdminMustFix(
            PLATFORM,
            f"{reason} (check TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID)",
            after=CREDENTIALS_RETRY,
        )
    if code == "Authorization_RequestDenied":
        return PermanentFailure(
            PLATFORM, f"{reason} (grant the app the Microsoft Graph permission this call needs)"
        )
    return PermanentFailure(PLATFORM, reason)
