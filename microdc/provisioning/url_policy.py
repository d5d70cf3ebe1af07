"""Which hosts the appliance may download model artifacts from.

An artifact URL is typed by an operator and fetched by the worker, so without a policy it could reach what
only the appliance can: its own services, the cloud metadata address, the nodes' link-local side. By
default a URL is refused when its host resolves to a loopback, link-local, unspecified, multicast or
reserved address, or to one of the appliance's own addresses. MICRODC_ARTIFACT_URL_ALLOW names the hosts
and networks a site trusts anyway (its model registry). The check is made on the resolved addresses and the
download then connects to the address that was checked, so a second DNS answer cannot change it.
"""

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Linux connects 0.x.x.x to the host itself.
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class UrlRefused(Exception):
    """The URL may not be fetched; the message says why (it names the host and address: for the log)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # the kind of refusal, without names or addresses


@dataclass(frozen=True)
class Target:
    """Where to connect for one URL: the checked addresses, in the resolver's order."""

    url: httpx.URL
    addresses: tuple[Address, ...]

    def connect_urls(self) -> list[httpx.URL]:
        return [self.url.copy_with(host=str(address)) for address in self.addresses]


def _allow_list() -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    networks, names = [], set()
    for entry in settings.MICRODC_ARTIFACT_URL_ALLOW:
        entry = entry.strip().strip("[]").lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return networks, names


def own_addresses() -> set[Address]:
    """The addresses of this machine's interfaces (Linux /proc), and what its host name resolves to."""
    found: set[Address] = set()
    try:
        last = None
        for line in Path("/proc/net/fib_trie").read_text().splitlines():
            line = line.strip()
            if line.startswith("|-- "):
                last = line[4:]
            elif line == "/32 host LOCAL" and last:
                found.add(ipaddress.ip_address(last))
    except OSError:
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            digits = line.split()[0]
            found.add(ipaddress.IPv6Address(int(digits, 16)))
    except (OSError, ValueError, IndexError):
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(ipaddress.ip_address(info[4][0].split("%")[0]))
    except (OSError, ValueError):
        pass
    return found


def refused_because(address: Address, own: set[Address]) -> str | None:
    """Why the default policy refuses `address`, or None when it does not."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or (address.version == 4 and address in _THIS_NETWORK):
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address in own:
        return "one of the appliance's own addresses"
    return None


def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def check(url: httpx.URL, resolve: bool = True) -> Target | None:
    """The addresses to connect to for `url`, or UrlRefused. Every address the host resolves to must pass:
    a name that also resolves to a refused address is refused. Raises OSError when the name does not
    resolve (a failed fetch, not a refusal). With resolve=False (the API, which answers at once) only an
    address written in the URL is checked, and a name gives None: it is checked when it is fetched."""
    if url.scheme not in ("http", "https"):
        raise UrlRefused(f"{url.scheme}: URLs are not fetched (http and https only)", "not an http(s) URL")
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    if not host:
        raise UrlRefused("the URL names no host", "no host")
    networks, names = _allow_list()
    if resolve:
        addresses = _resolve(host, url.port or (443 if url.scheme == "https" else 80))
    else:
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            return None
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if host not in names:
        own = own_addresses()
        for address in addresses:
            if any(address in network for network in networks):
                continue
            reason = refused_because(address, own)
            if reason:
                raise UrlRefused(f"{host} resolves to {address}, {reason}; add the host or network to "
                                 "MICRODC_ARTIFACT_URL_ALLOW if the site trusts it", f"its host is {reason}")
    return Target(url=url, addresses=tuple(addresses))
