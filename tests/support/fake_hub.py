"""Stand-ins for JupyterHub's token check (``app.state.hub_auth``) when the service's app runs
in-process, with no hub to ask.

The product's own checks are ``jupyterhub.services.auth.HubAuth`` (in a hub) and
``matfold_services.localauth.LocalTokenAuth`` (the laptop store's one user).
"""

from __future__ import annotations

__all__ = ["AnyTokenUser", "TokenUsers"]


class AnyTokenUser:
    """Accepts any token as the user `name`."""

    def __init__(self, name: str):
        self.name = name

    async def user_for_token(self, token, sync=False):
        return {"name": self.name, "kind": "user", "groups": []}


class TokenUsers:
    """Known tokens → users; any other token is refused (None), as the hub refuses it.

    Parameters
    ----------
    tokens : dict
        Token → user name.
    down : str, optional
        A token whose check fails as if the hub were down (``ConnectionError``).
    """

    def __init__(self, tokens: dict[str, str], down: str | None = None):
        self.tokens, self.down = dict(tokens), down

    async def user_for_token(self, token, sync=False):
        if self.down is not None and token == self.down:
            raise ConnectionError("the hub is down")
        name = self.tokens.get(token)
        return {"name": name, "kind": "user", "groups": []} if name else None
