"""The service's authenticator when it runs for one person on a laptop (the local store).

The kernel that starts the service draws a one-off token and hands it over through the
environment (never the command line: ``/proc/<pid>/cmdline`` is readable by every
account). :class:`LocalTokenAuth` stands where JupyterHub's ``HubAuth`` stands in a hub
(``app.state.hub_auth``), so requests take the same path: the one token is the one user,
any other token is unknown (the route answers 401, as for a token the hub does not know).
"""

from __future__ import annotations

import hmac

__all__ = ["LocalTokenAuth", "TOKEN_VARIABLE"]

#: Environment variable that carries the local service's token from the kernel.
TOKEN_VARIABLE = "MATFOLD_SERVICE_LOCAL_TOKEN"


class LocalTokenAuth:
    """One user, one token: the hub's ``user_for_token`` for a service without a hub.

    Parameters
    ----------
    user : str
        The name every request with the token acts as.
    token : str
        The secret (at least 16 characters); compared in constant time.
    """

    mode = "local"

    def __init__(self, user: str, token: str):
        if not user:
            raise ValueError("the local service needs a user name")
        if len(token) < 16:
            raise ValueError("the local service's token must have at least 16 characters")
        self.user, self._token = user, token.encode()

    async def user_for_token(self, token: str, sync: bool = False) -> dict | None:
        """The user's model for the right token, None (unknown token) for any other."""
        if not hmac.compare_digest(token.encode(), self._token):
            return None
        return {"name": self.user, "kind": "user", "admin": False, "groups": []}
