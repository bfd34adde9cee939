"""Logs never hold a secret: not at DEBUG, not in the access log, not in a failure's traceback.

One end-to-end run goes through everything that hands out secrets: the admin's directory grants
(harness setup), consent with OAuth on every platform, a failed code exchange, a Hub sign-in
link and a Hub sign-in with OAuth, and Slack slash commands answered through `response_url`.
Then every secret the sandbox issued or received (OAuth codes and states, access and refresh
tokens, client secrets, response_urls), and those the bot issued (consent tokens, the Hub link
token, the session cookie) are looked for in every log record of the run.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest

from bot.hub import create_link
from bot.logs import AccessLog
from sandbox.base import Call
from tests.e2e.conftest import ADMIN, Harness

BOB = "bob@acme.test"
SECRET_FIELDS = {
    "code",
    "state",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "response_url",
}
SECRET_SETTINGS = re.compile(r"SECRET|TOKEN|PASSWORD")
MIN_SECRET = 12  # shorter values (ids, "true") would match by accident


class Recorder(logging.Handler):
    """Every record, formatted with its traceback, as an operator's log file would hold it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Recorder]:
    """Listed before `harness`, so the harness's own setup (grants, imports) is recorded too."""
    recorder = Recorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(level)


def _values(data: Any, key: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _values(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _values(v, key)
    elif isinstance(data, str) and key in SECRET_FIELDS:
        yield data


def _body_values(call: Call) -> Iterator[str]:
    text = call.body.decode(errors="replace")
    try:
        yield from _values(json.loads(text))
    except ValueError:
        yield from _values(dict(parse_qsl(text)))


def sandbox_secrets(h: Harness) -> set[str]:
    """What the stand-ins issued and received: settings, query and body fields, credentials."""
    found = {v for k, v in h.sandbox.env().items() if SECRET_SETTINGS.search(k)}
    for service in h.sandbox.services.values():
        for call in service.calls:
            found.update(_values(call.query))
            found.update(_body_values(call))
            scheme, _, credential = call.headers.get("authorization", "").partition(" ")
            found.add(credential or scheme)
            if "/response/" in call.path:
                found.update({service.url + call.path, call.path.rsplit("/", 1)[-1]})
    # Slack's response_urls, including those the bot answered without using.
    for token in getattr(h.slack, "_response_urls", {}):
        found.update({token, f"{h.slack.url}/response/{token}"})
    return {s for s in found if len(s) >= MIN_SECRET}


async def consent_with_oauth(
    h: Harness, who: str, primary: str, secondary: str, *, refused: bool = False
) -> set[str]:
    """The consent flow up to the OAuth callback; returns the consent token and the links.

    `refused`: the secondary platform's token endpoint fails the code exchange (a logged
    warning, with the callback's code and state at hand).
    """
    agent = h.agents[primary]
    await h.command(primary, ADMIN, f"primary {who} {primary}")
    await h.command(primary, ADMIN, f"sync {who} {secondary}")
    await h.deliver()
    dm = agent.dms(who)[-1]
    token = dm.actions["mio:consent:allow"]
    assert await agent.press(who, dm, "mio:consent:allow") == 200
    await h.deliver()
    link = [link for m in agent.dms(who) for link in m.links][-1]
    callback = await h.agents[secondary].authorize(link, who)
    if refused:
        h.sandbox.services[secondary].fail("/oauth/token", 500)
    async with h.http.get(callback) as resp:
        assert resp.status == (502 if refused else 200), await resp.text()
    await h.deliver()
    assert (await h.status(who, secondary))[0] == ("failed" if refused else "synced")
    return {token, link, callback}


async def hub_sign_ins(h: Harness) -> set[str]:
    """A `mio hub-link` link (GET shows it, POST spends it) and a sign-in with Slack's OAuth."""
    issued: set[str] = set()
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        link = await create_link(h.core, ADMIN)
        issued |= {link, link.rsplit("/", 1)[-1]}
        async with browser.get(link) as resp:
            assert resp.status == 200
        async with browser.post(link, headers={"Referer": link}) as resp:
            assert resp.status == 200, await resp.text()
        async with browser.get(f"{h.url}/hub/users", headers={"Referer": link}) as resp:
            assert resp.status == 200
        async with browser.get(f"{h.url}/hub/auth/slack", allow_redirects=False) as resp:
            authorize = resp.headers["Location"]
        callback = await h.agents["slack"].authorize(authorize, ADMIN)
        async with browser.get(callback) as resp:
            assert resp.status == 200, await resp.text()
        issued |= {authorize, callback, *(c.value for c in jar if len(c.value) >= MIN_SECRET)}
    return issued


async def test_no_secret_reaches_the_logs(logs: Recorder, harness: Harness) -> None:
    h = harness
    issued: set[str] = set()
    for secondary in ("zoom", "teams", "webex"):
        issued |= await consent_with_oauth(h, BOB, "slack", secondary)
    issued |= await consent_with_oauth(h, "grace@acme.test", "teams", "zoom")
    issued |= await consent_with_oauth(h, "wes@acme.test", "webex", "zoom")
    issued |= await consent_with_oauth(h, "carol@acme.test", "slack", "zoom", refused=True)
    issued |= await hub_sign_ins(h)
    await h.command("slack", ADMIN, "users")
    await h.command("slack", ADMIN, f"status {BOB}")
    secrets = sandbox_secrets(h) | {s for s in issued if len(s) >= MIN_SECRET}
    assert len(secrets) > 30  # the run really handed secrets out
    access = [line for line in logs.lines if line.startswith("aiohttp.access")]
    assert any("/oauth/zoom/callback" in line for line in access)  # the access log is on
    assert any("/hub/link/" in line for line in access)
    text = "\n".join(logs.lines)
    leaked = sorted(s for s in secrets if s in text)
    if leaked:  # not `assert not leaked`: pytest would print the secrets and the whole log
        where = [line[:160] for line in logs.lines if any(s in line for s in leaked)]
        pytest.fail(f"{len(leaked)} secrets in the logs, e.g. in:\n" + "\n".join(where[:12]))


def test_access_log_line_has_no_query_and_no_link_token() -> None:
    """The format itself, on the paths that carry secrets (a unit test of the logger)."""
    line = AccessLog.line("GET", "/oauth/slack/callback?code=c0de-1234567890&state=s7ate", 302)
    assert line == "GET /oauth/slack/callback 302"
    assert AccessLog.line("POST", "/hub/link/abcDEF123_-xyz", 303) == "POST /hub/link/… 303"
    assert AccessLog.line("GET", "/hub/link/abc?x=1", 200) == "GET /hub/link/… 200"
    assert AccessLog.line("GET", "/healthz", 200) == "GET /healthz 200"
