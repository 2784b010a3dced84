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

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
