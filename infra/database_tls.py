"""How a PostgreSQL URL says TLS: the local server's URL, and the default for an external one. Pure: no I/O.

The ``sslmode`` and ``sslrootcert`` query parameters are libpq's, which asyncpg honours as well, so one URL
works for the platform, ``psql`` and ``pg_dump`` alike:

- the local server's URLs always carry ``sslmode=verify-full&sslrootcert=<the installation's ca.pem>``;
- an external URL's ``sslmode`` is honoured as written; without one a non-loopback host gets ``verify-full``
  (a loopback host is left as given). ``disable``, ``allow`` or ``prefer`` towards a non-loopback host is
  the operator's explicit choice and earns a warning, as it may send passwords and data unencrypted or to an
  impostor.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

VERIFY_FULL = "verify-full"
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
UNSAFE = ("disable", "allow", "prefer")  # may end up without TLS, or without checking whom we talk to


@dataclass(frozen=True)
class DatabaseTls:
    """An external URL as the platform uses it, and the mode that is unsafe for it (None when it is not)."""

    url: str
    unsafe_mode: str | None = None


def local_url(user_and_password: str, port: int, database: str, ca: Path) -> str:
    """The local server's URL: loopback, and the server's certificate verified against the installation's CA."""
    query = urlencode({"sslmode": VERIFY_FULL, "sslrootcert": str(ca)}, quote_via=quote, safe="/")
    return f"postgresql://{user_and_password}@127.0.0.1:{port}/{database}?{query}"


def sslmode(url: str) -> str | None:
    """The ``sslmode`` the URL names (the last one, as libpq reads it), or None."""
    modes = [value for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True) if key == "sslmode"]
    return modes[-1] if modes else None


def hosts(url: str) -> list[str]:
    """The hosts a URL names: its netloc's (``h1:5432,h2:5432`` too) and a ``host=`` parameter's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    found = [unquote(_host_of(item)) for item in netloc.split(",") if item]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "host":
            found += [item for item in value.split(",") if item]
    return [host for host in found if host]


def _host_of(item: str) -> str:
    if item.startswith("["):  # [::1]:5432
        return item[1 : item.find("]")] if "]" in item else item
    host, _, port = item.rpartition(":")
    return host if port.isdigit() or (host and not port) else item


def is_loopback(host: str) -> bool:
    """A Unix socket directory, ``localhost`` or a loopback address: traffic that never leaves the machine."""
    if host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def external_url(url: str) -> DatabaseTls:
    """An operator's URL: ``sslmode=verify-full`` added for a non-loopback host without one; else as given.

    ValueError for an ``sslmode`` libpq does not know (a typo must not quietly mean something else).
    """
    named = hosts(url)
    local = all(is_loopback(host) for host in named)  # no host at all: libpq's default, the local socket
    mode = sslmode(url)
    if mode is not None and mode not in SSLMODES:
        raise ValueError(f"sslmode={mode!r} is not one of {', '.join(SSLMODES)}")
    if mode is None:
        if local:
            return DatabaseTls(url)
        parts = urlsplit(url)
        query = f"{parts.query}&sslmode={VERIFY_FULL}" if parts.query else f"sslmode={VERIFY_FULL}"
        return DatabaseTls(urlunsplit(parts._replace(query=query)))
    return DatabaseTls(url, mode if mode in UNSAFE and not local else None)


def unsafe_warning(unsafe: list[tuple[str, str]]) -> str | None:
    """One line for every (variable, sslmode) that lets a non-loopback connection go without verified TLS."""
    if not unsafe:
        return None
    named = ", ".join(f"{variable} (sslmode={mode})" for variable, mode in unsafe)
    return (
        f"{named} may connect to a database on another machine without verified TLS: passwords and data can be "
        "read or changed on the way; remove the sslmode (verify-full is the default) or set sslmode=verify-full"
    )
