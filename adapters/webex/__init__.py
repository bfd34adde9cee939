"""Webex adapter: bot messages with Adaptive Cards, signed webhooks, admin-granted directory.

A package rather than one module because the webhook verifier, the card renderer, the admin
grant's token keeping and the webhook reconciliation each stand on their own (and are tested on
their own).
"""

from adapters.webex.adapter import WebexPlatform

__all__ = ["WebexPlatform"]
