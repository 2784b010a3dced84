"""Run the matfold service: ``python -m matfold_services --port 10101``."""

from __future__ import annotations

import argparse
import os


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="matfold service", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MATFOLD_SERVICE_PORT", "10101")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    import uvicorn

    from .app import create_app

    server = None
    if not os.environ.get("DATABASE_URL"):
        # development: the embedded Postgres (pgvector included) under the user's data folder
        from .db import default_data_dir, start_embedded

        server, os.environ["DATABASE_URL"] = start_embedded()
        print(f"matfold service: embedded Postgres in {default_data_dir() / 'postgres'}", flush=True)
    try:
        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
