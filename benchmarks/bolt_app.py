"""The baseline: a minimal slack-bolt AsyncApp that acks the benchmark's requests.

Run by benchmarks/webhooks.py as its own process: `python benchmarks/bolt_app.py PORT` with
SLACK_SIGNING_SECRET set. It verifies signatures and routes exactly as Mio's Bolt app does
(`process_before_response=True`, aiohttp adapter, a fixed authorization so no auth.test), then
acks: the slash command with a fixed text, the button press and the DM event empty.
"""

from __future__ import annotations

import os
import re
import sys

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck


def build() -> AsyncApp:
    async def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None,
            team_id="T0BENCH",
            bot_token="xoxb-bench",
            bot_user_id="U0MIOBOT",
            bot_id="B0MIOBOT",
        )

    app = AsyncApp(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        authorize=authorize,
        process_before_response=True,
    )

    @app.command("/mio")
    async def command(ack: AsyncAck) -> None:
        await ack(text="Mio User Sync: `/mio help` lists the commands.")

    @app.action(re.compile("^mio:"))
    async def press(ack: AsyncAck) -> None:
        await ack()

    @app.event("message")
    async def message() -> None:
        return None

    return app


if __name__ == "__main__":
    web.run_app(build().web_app(path="/slack/events"), host="127.0.0.1", port=int(sys.argv[1]))
