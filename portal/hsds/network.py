"""Where an import may read another directory's API from. An admin types a URL on a page and the
server fetches it: without a guard, that is a way into what only the server reaches (Redis and
PostgreSQL on 127.0.0.1, the cloud's metadata at 169.254.169.254, the city's internal systems).
So an import reads public addresses only, checked on the socket actually connected (a name that
resolves to a public address and then, asked again, to 127.0.0.1 gains nothing; a redirect is
checked as its own connection). Reading a partner inside a private network is for an operator at
the command line, who asks for it."""

import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Callable
from typing import Any


class PrivateAddress(OSError):
    """A connection reached an address that is not on the public internet."""

    def __init__(self, address: str) -> None:
        super().__init__(f"{address} is not a public address")
        self.address = address


def _public_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    connected = socket.create_connection(address, *args, **kwargs)
    peer = ipaddress.ip_address(connected.getpeername()[0])
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    if not peer.is_global:
        connected.close()
        raise PrivateAddress(str(peer))
    return connected


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


def opener(private_network: bool = False) -> Callable[..., Any]:
    """`urlopen` for an import: public addresses only unless `private_network`. No proxy from the
    environment either: the check is on the address connected to, which a proxy would hide."""
    if private_network:
        return urllib.request.urlopen
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _PublicHTTPHandler, _PublicHTTPSHandler).open
