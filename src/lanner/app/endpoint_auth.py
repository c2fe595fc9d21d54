"""Bearer tokens and bind addresses of the endpoints of ``lanner run``.

Each endpoint (the web server, the k8s audit webhook) takes its token from a config value,
else a file holding it, else an environment variable. Without any token the endpoint is
open, which is fine on loopback (the default) and warned about on a wide bind.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lanner.exceptions import ConfigError
from lanner.sources.k8s_audit.webhook import is_loopback

log = logging.getLogger("lanner")

WEBSERVER_TOKEN_ENV = "LANNER_WEBSERVER_TOKEN"
K8SAUDIT_TOKEN_ENV = "LANNER_K8SAUDIT_TOKEN"


def resolve_token(key: str, value: object, file: object, env: str) -> str | None:
    """The token: ``value``, else the first line of ``file``, else ``$env``; None if unset.

    A token file that cannot be read or is empty is a :class:`ConfigError` naming the key
    and the file: an endpoint the user meant to protect never starts open.
    """
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(file, str) and file.strip():
        path = Path(file.strip())
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{key}_file: cannot read the token file {path}: {exc}") from None
        if not text:
            raise ConfigError(f"{key}_file: the token file {path} is empty")
        return text.splitlines()[0].strip()
    token = os.environ.get(env, "").strip()
    return token or None


def check_bind(what: str, host: str, token: str | None) -> None:
    """Warn when an endpoint listens beyond loopback without a token."""
    if token is None and not is_loopback(host):
        log.warning(
            "%s listens on %s without a token: anyone who reaches this address can use it; "
            "set a token (see docs/security.md) or listen on 127.0.0.1",
            what,
            host or "every interface",
        )
