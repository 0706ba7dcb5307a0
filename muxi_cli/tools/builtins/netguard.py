"""Which addresses ``fetch_url`` may connect to, and resolving a host once.

The guard works on the address that will actually be connected to: the host
is resolved once, every answer is checked, and the connection is made to the
checked address (see :mod:`muxi_cli.tools.builtins.fetch`). A second lookup
at connect time would let a DNS server answer "public" for the check and
"127.0.0.1" for the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``async (host) -> [address, ...]``; tests inject their own.
Resolver = Callable[[str], Awaitable[list[str]]]

# Prefixes whose low 32 bits are an IPv4 address the packet ends up at.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Digits, dots and hex/octal prefixes only: a numeric IPv4 form that
# inet_aton accepts (2130706433, 0x7f.1, 0177.0.0.1) but ip_address does not.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class PrivateAddressError(Exception):
    """The URL (or a redirect) leads to a loopback, private or link-local address."""


class ResolveError(Exception):
    """The host name could not be resolved (fetching is refused, not guessed)."""


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64, compatible)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64) or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # "::" and "::1" are checked as IPv6
    ):
        found.append(low)
    return found


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, and so is every IPv4 address it embeds."""
    for candidate in [address, *embedded_ipv4(address)]:
        if not candidate.is_global or candidate.is_multicast:
            return False
    return True


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is a literal (also decimal/octal/hex IPv4 forms)."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        try:
            # The C library reads these forms the way a connect() would.
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


async def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    from muxi_cli.threads import run_abandonable  # deferred: loads asyncio

    # Not loop.getaddrinfo: its executor thread would hold up exit on a stuck lookup.
    infos = await run_abandonable(
        "fetch_url lookup", socket.getaddrinfo, host, None, type=socket.SOCK_STREAM
    )
    return [str(info[4][0]) for info in infos]


async def checked_address(host: str, resolver: Resolver, allow_private: bool) -> IPAddress:
    """The one address to connect to for ``host``, after checking every answer.

    Fails closed: a lookup error or an empty answer refuses the fetch.
    """
    literal = literal_address(host)
    if literal is not None:
        answers: list[IPAddress] = [literal]
    else:
        try:
            raw = await resolver(host)
        except OSError as exc:
            raise ResolveError(f"cannot resolve {host}: {exc}") from exc
        answers = []
        for item in raw:
            try:
                answers.append(ipaddress.ip_address(str(item).split("%", 1)[0]))
            except ValueError as exc:
                raise ResolveError(f"cannot resolve {host}: bad answer {item!r}") from exc
        if not answers:
            raise ResolveError(f"cannot resolve {host}: no addresses")
    if not allow_private:
        for address in answers:
            if not is_public(address):
                raise PrivateAddressError(f"{host} resolves to {address}, which is not public")
    return answers[0]
