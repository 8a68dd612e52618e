"""Secrets never reach a message: URL passwords, secret-looking query values, `${VAR}` values.

`rtsp://user:pw@cam/s?token=abc` is shown as `rtsp://user:***@cam/s?token=***`, and a value
expanded from `${CAM_URL}` is shown as `${CAM_URL}`: status lines, summaries and errors alike.
"""

from __future__ import annotations

import os
import re
from typing import Callable
from urllib.parse import urlsplit

#: query parameter names that carry credentials (access_token, api_key, password, X-Amz-Signature...).
#: `sig` as a whole name: Azure SAS URLs carry their signature in `sig=` (not `design=`).
SECRET_PARAM = re.compile(r"token|key|pass|pwd|secret|auth|signature|^sig$", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#?]*)=([^&;#]*)")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: shorter `${VAR}` values are not hunted for in free text: "1" would blank out every digit.
_MIN_SHOWN = 4


def expand_env(text: str, unset: Callable[[str], Exception] | None = None) -> tuple[str, dict[str, str]]:
    """`${NAME}`s in `text` from the environment (camera passwords stay out of configs), and each
    value -> "${NAME}", so that messages show the name, never the value. An unset NAME raises
    `unset(NAME)`; without `unset` it stays as written."""
    shown: dict[str, str] = {}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            if unset is None:
                return match.group(0)
            raise unset(name)
        shown[os.environ[name]] = match.group(0)
        return os.environ[name]

    return _VAR.sub(value, text), shown


def redact(uri: str) -> str:
    """rtsp://user:secret@host/x?token=t -> rtsp://user:***@host/x?token=***."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")  # a password may itself hold an "@"
        authority = f"{userinfo.split(':', 1)[0]}:***@{host}"
    path = _QUERY_PAIR.sub(lambda m: f"{m[1]}{m[2]}=***" if SECRET_PARAM.search(m[2]) else m[0], path)
    return f"{scheme}://{authority}{slash}{path}"


def secrets_of(uri: str) -> list[str]:
    """The password and the values of secret-looking query parameters in a URL."""
    if "://" not in uri:
        return []
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    query = uri.partition("?")[2]
    values = [m[3] for m in _QUERY_PAIR.finditer("?" + query) if SECRET_PARAM.search(m[2])]
    return [v for v in [password, *values] if v]


def scrub(text: str, uri: str, shown: dict[str, str] | None = None) -> str:
    """`text` as it may be printed: `uri` redacted, its secrets as ***, and each value in
    `shown` (an expanded `${VAR}` -> "${VAR}") by its name."""
    shown = {k: v for k, v in (shown or {}).items() if k}
    named = uri
    for value, name in shown.items():
        named = named.replace(value, name)
    text = text.replace(uri, redact(named))
    for secret in secrets_of(uri):
        text = text.replace(secret, "***")
    for value, name in shown.items():
        if len(value) >= _MIN_SHOWN:
            text = text.replace(value, name)
    return text
