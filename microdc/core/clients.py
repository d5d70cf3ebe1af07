"""Which address a request came from: REMOTE_ADDR, or behind a declared proxy the address it forwarded for.

X-Forwarded-For is written by the client first and each proxy appends what it saw, so only the entries added
by proxies of MICRODC_TRUSTED_PROXIES can be believed: the client is the right-most address not in that list.
"""

import ipaddress

from django.conf import settings


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in settings.MICRODC_TRUSTED_PROXIES)


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR") or ""
    if not _trusted(remote):
        return remote
    forwarded = [item.strip() for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if item.strip()]
    for address in reversed(forwarded):
        if not _trusted(address):
            return address
    return forwarded[0] if forwarded else remote
