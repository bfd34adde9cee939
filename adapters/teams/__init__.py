"""Microsoft Teams adapter: Bot Connector DMs, Graph directory and installs, user OAuth, JWTs.

A package rather than one module because the token-caching client, the JWT validator, the
connector (with its install-through-Graph fallback), the directory reader, the user OAuth and
the card renderer each stand on their own (and are tested on their own).
"""

from adapters.teams.adapter import TeamsPlatform

__all__ = ["TeamsPlatform"]
