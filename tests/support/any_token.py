"""A stand-in for the hub's token check: every token is one fixed user.

For tests that run the service's app in-process (no hub, no local token); the product's
own one-user check is ``matfold_services.localauth.LocalTokenAuth``.
"""

from __future__ import annotations

__all__ = ["AnyTokenUser"]


class AnyTokenUser:
    """``app.state.hub_auth`` that accepts any token as the user `name`."""

    def __init__(self, name: str):
        self.name = name

    async def user_for_token(self, token, sync=False):
        return {"name": self.name, "kind": "user", "groups": []}
