"""Which Webex roles make someone a Mio admin: the full and the user administrator only.

A person's `roles` (admin-only field, platform-apis.md §E.3: "Admin flag: a non-empty
`roles[]`") lists every role they hold, and Webex has many that manage nothing about people:
read-only, device, support, compliance officer… A non-empty list is therefore not enough.
Role ids are Webex ids, unpadded base64 of `ciscospark://<cluster>/ROLE/<name>` (the sandbox's
`FULL_ADMIN_ROLE` is `…/ROLE/id_full_admin`), and the administrators who manage users are
`id_full_admin` and `id_user_admin` (Webex Roles API, developer.webex.com/docs/api/v1/roles;
the same names Control Hub's partner APIs use, e.g. `"role": "id_full_admin"`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

ADMIN_ROLES = frozenset({"id_full_admin", "id_user_admin"})


def role_name(role_id: str) -> str:
    """`id_full_admin` from a role id (either base64 alphabet, padded or not), or "" when it
    is not a Webex role id."""
    try:
        standard = role_id.strip().rstrip("=").replace("-", "+").replace("_", "/")
        decoded = base64.b64decode(standard + "=" * (-len(standard) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    kind, _, name = decoded.rpartition("/")
    return name if kind.startswith("ciscospark://") and kind.endswith("/ROLE") else ""


def is_admin(roles: Any) -> bool:
    """Whether a `roles` list holds a role that administers the organisation's people."""
    if not isinstance(roles, list):
        return False
    return any(isinstance(r, str) and role_name(r) in ADMIN_ROLES for r in roles)
