"""Start the voting app: the study, the links people open, and uvicorn on a socket already bound.

The caller (``harness human serve``) checks its options and binds the socket first, so a port in
use is one error line before anything is stored or printed. Serves until interrupted.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from harness.web.app import create_app, served_hosts
from harness.web.study import Options, Study


def serve(run_dir: Path, options: Options, *, sock: socket.socket, host: str, port: int) -> None:
    """Serve ``run_dir``'s comparisons on ``sock`` (bound to ``host``:``port``), after printing one
    link per named annotator (or the sign-up page's) and the owner's link."""
    study = Study(run_dir, options)
    app = create_app(run_dir, study=study, hosts=served_hosts(host, port))
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"harness: warning: --host {host} lets other machines reach the voting pages; anyone "
              "who has a link can vote, and traffic is not encrypted", file=sys.stderr)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    for name in options.annotators:
        print(f"{name}: {base}/a/{study.join(name)}")
    if not options.annotators:
        print(f"annotators: {base}/")
    print(f"owner: {base}/owner/{study.owner_token()}", flush=True)
    import uvicorn  # here: the other commands never need it

    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
