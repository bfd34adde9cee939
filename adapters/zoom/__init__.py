"""Zoom Team Chat adapter: chatbot messages, Server-to-Server directory, user OAuth, webhooks.

A package rather than one module because the token-caching client, the webhook verifier and the
card renderer each stand on their own (and are tested on their own).
"""

from adapters.zoom.adapter import ZoomPlatform

__all__ = ["ZoomPlatform"]
