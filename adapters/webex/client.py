"""webexpythonsdk clients, one per token, set up the way this process needs them.

Every client shares three choices: `wait_on_rate_limit=False` (the SDK would otherwise
`time.sleep()` through a 429 inside our worker thread, §G), plain dicts instead of the SDK's
immutable models (the adapter reads fields Webex adds before the SDK knows them, such as
`loginEnabled` typed as a string), and a base URL that ends in `/` (without it `urljoin` drops
the `/v1` path, §H.3, §I.8).
"""

from __future__ import annotations

from typing import Any

from webexpythonsdk import WebexAPI  # type: ignore[import-untyped]
from webexpythonsdk.models.dictionary import dict_data_factory  # type: ignore[import-untyped]
from webexpythonsdk.restsession import RestSession  # type: ignore[import-untyped]

from adapters.http import with_slash

DEFAULT_API_URL = "https://webexapis.com/v1/"
TIMEOUT = 30  # seconds for one HTTP exchange


def api_for(token: str, base_url: str) -> Any:
    """A `WebexAPI` acting with `token` (the bot's, the admin's or a person's)."""
    return WebexAPI(
        access_token=token,
        base_url=with_slash(base_url),
        single_request_timeout=TIMEOUT,
        wait_on_rate_limit=False,
        object_factory=dict_data_factory,
    )


def rest_for(token: str, base_url: str) -> Any:
    """The SDK's REST session alone, for what it has no wrapper for: page-by-page listing
    (`get_pages` follows the Link header) and the Authorizations API."""
    return RestSession(
        access_token=token,
        base_url=with_slash(base_url),
        single_request_timeout=TIMEOUT,
        wait_on_rate_limit=False,
    )
