"""Run the matfold service: ``python -m matfold_services --port 10101``.

Without ``DATABASE_URL`` it starts (or joins) the embedded Postgres in
``<data folder>/postgres`` and stops it when it exits (the last user of it stops it).
The laptop store starts it as a child of the kernel with ``--local-user``,
``--port 0``, ``--ready-file`` and ``--parent-pid``: it then accepts one token
(``$MATFOLD_SERVICE_LOCAL_TOKEN``), tells its address through the ready file and shuts
down, Postgres included, when the kernel is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

__all__ = ["main", "PARENT_POLL"]

#: Seconds between two checks that the ``--parent-pid`` process still runs.
PARENT_POLL = 0.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matfold service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MATFOLD_SERVICE_PORT", "10101")),
                        help="TCP port (0: a free one, written to --ready-file)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder of the embedded Postgres (default: matfold_kernel.config.data_dir())")
    parser.add_argument("--local-user", default=None,
                        help="serve this one user: the only token accepted is $MATFOLD_SERVICE_LOCAL_TOKEN")
    parser.add_argument("--ready-file", type=Path, default=None,
                        help="once serving, write {url, pid} here as JSON (mode 0600)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="shut down (and stop Postgres) when this process, our parent, ends")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def _write_ready(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(partial, path)


def _server_class(uvicorn):
    class Server(uvicorn.Server):
        """uvicorn's server, stopped the same way by every signal and by repeated ones.

        A hub stops its service twice at once (JupyterHub sends SIGINT, the launcher
        SIGTERM): stock uvicorn takes a SIGINT after another signal as "force exit", skips
        the application's shutdown and logs a CancelledError traceback; and it raises the
        caught signal again after shutting down. Here every signal just asks for the
        graceful shutdown, once.
        """

        def handle_exit(self, sig, frame):
            self.should_exit = True

    return Server


def main(argv=None) -> int | None:
    parser = _parser()
    args = parser.parse_args(argv)
    auth = None
    if args.local_user is not None:
        from .localauth import TOKEN_VARIABLE, LocalTokenAuth

        try:
            auth = LocalTokenAuth(args.local_user, os.environ.pop(TOKEN_VARIABLE, ""))
        except ValueError as exc:
            parser.error(f"{exc} (give the token in ${TOKEN_VARIABLE}, never on the command line)")
    if args.parent_pid is not None and os.getppid() != args.parent_pid:
        parser.error(f"--parent-pid {args.parent_pid} is not this process's parent")

    stop = threading.Event()
    server = None  # the uvicorn server, once made

    # SIGTERM, SIGINT and SIGHUP end the service through the `finally` below, so the embedded
    # Postgres is stopped. Before serving they raise SystemExit; while serving the server's
    # handler asks for a graceful shutdown; once it has served, a late signal is ignored so
    # that stopping Postgres is not cut short (the default handler would kill us before it).
    def _exit(signum, frame):
        if server is not None and server.started:
            return
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _exit)
    if args.parent_pid is not None:
        def watch_parent():
            while os.getppid() == args.parent_pid:
                if stop.wait(PARENT_POLL):
                    return
            print(f"matfold service: parent {args.parent_pid} is gone; stopping", flush=True)
            stop.set()
            if server is not None:  # else still starting: the main thread checks `stop` before serving
                server.should_exit = True

        threading.Thread(target=watch_parent, name="matfold-parent-watch", daemon=True).start()

    import uvicorn

    from .app import PREFIX, create_app

    database = None
    try:
        try:
            if not os.environ.get("DATABASE_URL"):
                # the embedded Postgres (pgvector included) under the user's data folder
                from .db import default_data_dir, start_embedded

                data_dir = args.data_dir or default_data_dir()
                database, os.environ["DATABASE_URL"] = start_embedded(data_dir)
                print(f"matfold service: embedded Postgres in {Path(data_dir) / 'postgres'}", flush=True)
            app = create_app(auth=auth)  # runs the migrations
            sock = socket.create_server((args.host, args.port))
        except Exception as exc:  # one line, not a traceback: the database or the port is the usual cause
            detail = " ".join(str(exc).split()) or type(exc).__name__
            print(f"matfold service: cannot start: {detail}", file=sys.stderr, flush=True)
            return 1
        host, port = sock.getsockname()[:2]
        url = f"http://{host}:{port}{PREFIX}/"
        server = _server_class(uvicorn)(uvicorn.Config(app, log_level=args.log_level))
        if stop.is_set():
            return
        if args.ready_file is not None:
            _write_ready(args.ready_file, {"url": url, "pid": os.getpid()})
        print(f"matfold service: ready at {url} (pid {os.getpid()})", flush=True)
        server.run(sockets=[sock])
    finally:
        stop.set()
        if database is not None:
            database.cleanup()
            print("matfold service: stopped (embedded Postgres released)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
