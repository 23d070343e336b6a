"""Jupyter Server configuration of the `jupyter` service in docker/compose.yaml.

compose.yaml mounts this file read-only at /etc/jupyter/jupyter_server_config.py (a system config
directory every Jupyter application searches) and also passes it with --config. It reads the access
token from the JUPYTER_TOKEN environment variable and refuses to start the server when the token is
missing or shorter than MIN_TOKEN_CHARS, so the server is never open without authentication.

It must never hold a token or password itself: secrets come from the environment at run time
(docker/.env, git-ignored), never from this file or the image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# 32 characters: what `openssl rand -hex 16` prints; compose.yaml suggests `openssl rand -hex 32` (64).
MIN_TOKEN_CHARS = 32


def required_token(environ: Mapping[str, str]) -> str:
    """The access token from `environ`, or SystemExit with a message saying what to set.

    SystemExit rather than ValueError: traitlets (and jupyter_core's JupyterApp) log an Exception
    raised by a config file and carry on without it, which would leave the server on its defaults;
    SystemExit is not an Exception, so it ends the server before it listens.

    Raises:
        SystemExit: JUPYTER_TOKEN unset, blank or shorter than MIN_TOKEN_CHARS.

    """
    token = environ.get("JUPYTER_TOKEN", "")
    if not token.strip():
        raise SystemExit(
            "jupyter: JUPYTER_TOKEN is not set; refusing to start an unauthenticated server. "
            "Set it in docker/.env, e.g. JUPYTER_TOKEN=$(openssl rand -hex 32)"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise SystemExit(
            f"jupyter: JUPYTER_TOKEN has {len(token)} characters, at least {MIN_TOKEN_CHARS} are required; "
            "generate one with `openssl rand -hex 32`"
        )
    return token


c = get_config()  # noqa: F821 -- Jupyter's config loader defines get_config when it runs this file

# Jupyter Server 2 authenticates through its IdentityProvider; ServerApp.token is its deprecated alias.
c.IdentityProvider.token = required_token(os.environ)
# The login page could otherwise turn the token into a stored password under ~/.jupyter.
c.PasswordIdentityProvider.allow_password_change = False
# Handlers that forget their @authenticated decorator still refuse anonymous requests (Jupyter Server >= 2.13).
c.ServerApp.allow_unauthenticated_access = False
c.ServerApp.disable_check_xsrf = False
c.ServerApp.allow_root = False
c.ServerApp.open_browser = False
# 0.0.0.0 inside the container so Docker's port mapping reaches it; compose publishes the port on the
# host's 127.0.0.1 only. The Host header must still name a loopback address (DNS rebinding guard),
# which holds for http://127.0.0.1:8888 and for an `ssh -L 8888:127.0.0.1:8888` tunnel.
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.allow_remote_access = False
c.ServerApp.port = 8888
# Never drift to 8889 and so on: only 8888 is published.
c.ServerApp.port_retries = 0
c.ServerApp.root_dir = "/data/notebooks"
