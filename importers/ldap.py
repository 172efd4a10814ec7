"""Reading an academy directory over LDAP (ldap3): root DSE, then an RFC 2696 paged search.

``LdapReader`` is an iterable of ``(dn, attrs)`` pairs, like the LDIF reader, so the rest of the
pipeline does not know where entries come from. It

* reads the root DSE first, to know the server (vendor) and whether it supports the paged-results
  control (``1.2.840.113556.1.4.319``); without it, one plain search is made and a size limit
  is a read failure, never a silently shorter feed;
* asks only for the mapped attributes (``Mapping.requested_attributes()``: they include the stable
  ids ``entryUUID``/``nsUniqueId`` and ``modifyTimestamp``, which servers return only when named);
* follows the paged-results cookie page after page as a generator (one page in memory);
* in incremental mode ANDs the feed's filter with
  ``(|(modifyTimestamp>=W)(createTimestamp>=W))``, W as GeneralizedTime;
* turns *every* failure - server down, bind refused, timeout, size or time limit, connection lost
  between two pages, a page without its control - into ``FeedReadError``, which the importer takes
  as "this scan says nothing about who left".

Vendor quirks are few and kept here: OpenLDAP gives ``entryUUID``, Sun/Oracle DSEE and 389-ds give
``nsUniqueId`` (both are requested; the mapping takes the first present).

The bind password is read from the feed's environment variable or file at ``open()``, handed to
ldap3 and scrubbed from every message this module produces.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_errors

from importers.dates import changed_since_filter
from importers.errors import FeedReadError
from importers.feeds import FeedConfig
from importers.ldap_entries import EntriesOnly
from importers.mapping import Attrs, Mapping
from importers.validate import is_container

__all__ = ["PAGED_RESULTS_OID", "LdapReader", "ServerInfo", "ldap_filter"]

log = logging.getLogger(__name__)

PAGED_RESULTS_OID: Final = "1.2.840.113556.1.4.319"

# LDAP result codes that mean "the answer is incomplete" (RFC 4511, 4.1.9).
_RESULT_REASONS: Final = {
    3: "timeout",  # timeLimitExceeded
    4: "size_limit",  # sizeLimitExceeded
    11: "size_limit",  # adminLimitExceeded
    32: "no_such_base",  # noSuchObject: the base DN is gone
    49: "bind_failed",  # invalidCredentials
    51: "server_busy",
    52: "server_down",  # unavailable
    80: "server_error",
}


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the root DSE says about a server."""

    vendor: str | None
    version: str | None
    controls: frozenset[str] = field(default_factory=frozenset)

    @property
    def paged_results(self) -> bool:
        """Whether the server advertises RFC 2696 paged results."""
        return PAGED_RESULTS_OID in self.controls

    @property
    def family(self) -> str:
        """``openldap``, ``sun`` (Sun/Oracle DSEE, 389-ds: ``nsUniqueId``) or ``unknown``."""
        name = (self.vendor or "").lower()
        if "openldap" in name:
            return "openldap"
        if any(word in name for word in ("sun", "oracle", "netscape", "389", "fedora", "red hat")):
            return "sun"
        return "unknown"


def ldap_filter(feed: FeedConfig, since: datetime | None) -> str:
    """The search filter: the feed's own, ANDed with the changed-since clause in incremental mode."""
    if since is None:
        return feed.filter
    return changed_since_filter(since, base_filter=feed.filter)


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


_TLS_REASON: Final = re.compile(
    r"(certificate verify failed[^(')\]]*|wrong version number|unknown ca|handshake failure)"
)
"""What ssl says when a TLS handshake fails, inside the several layers of ldap3's wrapping."""


class _VerifyingTls(ldap3.Tls):
    """ldap3's TLS settings, with the certificate *and the host name* checked by ``ssl`` itself.

    ldap3 turns the standard library's host-name check off and calls ``ssl.match_hostname``
    after the handshake instead: deprecated since Python 3.7 (a warning on every connection) and
    gone in 3.12. Here the context is ``ssl.create_default_context`` (certificate required, host
    name checked during the handshake, TLS 1.2 at least), trusting the feed's CA file, or the
    system's CAs when it has none. A failure is an ``ssl.SSLCertVerificationError`` raised by the
    handshake, which ldap3 wraps and ``LdapReader`` reports as ``tls_failed``.
    """

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_certs_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


class LdapReader:
    """Iterate a feed's entries over LDAP as ``(dn, attrs)``, values ``str`` (or ``bytes`` if not UTF-8).

    ``since`` set: incremental scan (entries modified or created at or after it). ``entries_read``
    counts as it goes. Iterate once; the connection is closed at the end, on error or when the
    consumer stops early (``close()``).
    """

    def __init__(self, feed: FeedConfig, *, mapping: Mapping, since: datetime | None = None) -> None:
        if feed.url is None or feed.base_dn is None:
            raise ValueError(f"feed {feed.name} is not an LDAP feed")
        self.feed = feed
        self.mapping = mapping
        self.since = since
        self.entries_read = 0
        self.pages = 0
        self.server_info: ServerInfo | None = None
        self._password: str | None = None
        self._conn: ldap3.Connection | None = None

    # -- errors -----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _fail(self, message: str, reason: str) -> FeedReadError:
        return FeedReadError(
            self.feed.name, self._scrub(message), reason=reason, entries_read=self.entries_read
        )

    def _tls_failure(self, exc: Exception, where: str) -> FeedReadError | None:
        """A clear ``tls_failed`` error when ``exc`` is a failed TLS handshake or certificate check."""
        text = str(exc)
        match = _TLS_REASON.search(text)
        if match is None and not isinstance(exc, ssl.SSLError | ldap_errors.LDAPCertificateError):
            return None
        how = "StartTLS" if self.feed.starttls else "TLS (ldaps)"
        if isinstance(exc, ldap_errors.LDAPCertificateError):
            detail = "the server's certificate does not name this host"
        elif match is not None:
            detail = match.group(1).strip().rstrip(".")
        else:
            detail = text
        trust = (
            f"trusting the CA file {self.feed.ca_file}"
            if self.feed.ca_file is not None
            else "trusting the system's CAs (no ca_file set for this feed)"
        )
        return self._fail(f"{how} with {where} failed, {trust}: {detail}", "tls_failed")

    def _from_exception(self, exc: Exception, doing: str, where: str = "") -> FeedReadError:
        tls = self._tls_failure(exc, where) if where else None
        if tls is not None:
            return tls
        if isinstance(exc, ldap_errors.LDAPSocketOpenError | ldap_errors.LDAPStartTLSError):
            reason = "server_down"
        elif isinstance(exc, ldap_errors.LDAPResponseTimeoutError | ldap_errors.LDAPSocketReceiveError):
            # ldap3 reports a receive timeout as a socket receive error ("timed out").
            reason = "timeout" if "timed out" in str(exc).lower() else "connection_lost"
        elif isinstance(
            exc, ldap_errors.LDAPSessionTerminatedByServerError | ldap_errors.LDAPSocketSendError
        ):
            reason = "connection_lost"
        else:
            reason = "read_failed"
        return self._fail(f"{doing}: {type(exc).__name__}: {exc}", reason)

    def _check(self, conn: ldap3.Connection, doing: str) -> dict[str, Any]:
        result: dict[str, Any] = conn.result or {}
        code = int(result.get("result", 0))
        if code != 0:
            reason = _RESULT_REASONS.get(code, "read_failed")
            text = result.get("description") or f"result {code}"
            detail = result.get("message") or ""
            raise self._fail(f"{doing}: {text}{': ' + detail if detail else ''}", reason)
        return result

    # -- connection -------------------------------------------------------------------------------

    def open(self) -> ldap3.Connection:
        """Connect (TLS as configured), bind and read the root DSE."""
        feed = self.feed
        assert feed.url is not None
        parts = urlsplit(feed.url)
        use_ssl = parts.scheme.lower() == "ldaps"
        tls = None
        if use_ssl or feed.starttls:
            tls = _VerifyingTls(
                validate=ssl.CERT_REQUIRED, ca_certs_file=str(feed.ca_file) if feed.ca_file else None
            )
        server = ldap3.Server(
            parts.hostname or "localhost",
            port=parts.port or (636 if use_ssl else 389),
            use_ssl=use_ssl,
            tls=tls,
            get_info=ldap3.NONE,  # we read the root DSE ourselves, asking only what we need
            connect_timeout=max(1, round(feed.connect_timeout)),  # ldap3 packs it as an integer
        )
        self._password = feed.password()
        conn = ldap3.Connection(
            server,
            user=feed.bind_dn,
            password=self._password,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
            receive_timeout=max(1, round(feed.read_timeout)),
            raise_exceptions=False,
            check_names=False,
            return_empty_attributes=False,
            auto_referrals=False,
        )
        # ldap3 binds the strategy's methods onto the connection when it is created: rebind them.
        strategy = conn.strategy = EntriesOnly(conn)
        conn.send, conn.open, conn.get_response = strategy.send, strategy.open, strategy.get_response
        conn.post_send_single_response = strategy.post_send_single_response
        conn.post_send_search = strategy.post_send_search
        self._conn = conn
        try:
            conn.open()
            if feed.starttls and not conn.start_tls():
                raise self._fail(f"StartTLS refused by {parts.hostname}", "server_down")
            if not conn.bind():
                self._check(conn, f"bind as {feed.bind_dn or 'anonymous'}")
                raise self._fail(f"bind as {feed.bind_dn or 'anonymous'} refused", "bind_failed")
            self.server_info = self._root_dse(conn)
        except FeedReadError:
            self.close()
            raise
        except Exception as exc:  # ldap3 lets socket, ssl and struct errors through as they are
            self.close()
            where = f"{parts.hostname}:{server.port}"
            raise self._from_exception(exc, f"connecting to {where}", where) from None
        log.debug(
            "feed %s: %s %s, paged results %s",
            feed.name,
            self.server_info.vendor,
            self.server_info.version,
            "supported" if self.server_info.paged_results else "NOT supported",
        )
        return conn

    def _root_dse(self, conn: ldap3.Connection) -> ServerInfo:
        conn.search(
            "",
            "(objectClass=*)",
            ldap3.BASE,
            attributes=["supportedControl", "supportedFeatures", "vendorName", "vendorVersion"],
        )
        self._check(conn, "reading the root DSE")
        attrs: dict[str, list[str]] = {}
        for item in conn.response or ():
            if item.get("type") == "searchResEntry":
                attrs = {k.lower(): [_text(v) for v in vs] for k, vs in item["raw_attributes"].items()}

        def first(name: str) -> str | None:
            values = attrs.get(name.lower())
            return values[0] if values else None

        controls = frozenset(attrs.get("supportedcontrol", ()))
        features = set(attrs.get("supportedfeatures", ()))
        vendor = first("vendorName")
        if vendor is None and "1.3.6.1.4.1.4203.1.5.1" in features:
            # slapd publishes no vendorName; features under OpenLDAP's own OID arc give it away.
            vendor = "OpenLDAP"
        return ServerInfo(vendor, first("vendorVersion"), controls)

    def close(self) -> None:
        """Unbind and close the connection (idempotent, also after the server died)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            # Unbinding a dead connection fails before ldap3 closes its socket: close it ourselves.
            with contextlib.suppress(Exception):
                conn.unbind()
            sock = getattr(conn, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    # -- the scan ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[str, Attrs]]:
        conn = self.open()
        try:
            yield from self._scan(conn)
        finally:
            self.close()

    def _scan(self, conn: ldap3.Connection) -> Iterator[tuple[str, Attrs]]:
        feed = self.feed
        assert feed.base_dn is not None and self.server_info is not None
        search_filter = ldap_filter(feed, self.since)
        attributes = self.mapping.requested_attributes()
        paged = self.server_info.paged_results
        uid_attribute = self.mapping.uid
        if not paged:
            log.warning("feed %s: the server does not support paged results; one plain search", feed.name)
        cookie: bytes | None = None
        while True:
            doing = f"searching {feed.base_dn} (page {self.pages + 1})"
            try:
                conn.search(
                    feed.base_dn,
                    search_filter,
                    ldap3.SUBTREE,
                    dereference_aliases=ldap3.DEREF_NEVER,
                    attributes=attributes,
                    paged_size=feed.page_size if paged else None,
                    paged_criticality=paged,
                    paged_cookie=cookie,
                )
            except Exception as exc:  # any failure mid-scan: the scan is incomplete
                raise self._from_exception(exc, doing) from None
            result = self._check(conn, doing)
            self.pages += 1
            for item in conn.response or ():
                if item.get("type") != "searchResEntry":
                    continue  # referrals and references: not entries of this directory
                attrs = item["raw_attributes"]
                if is_container(item["dn"], attrs, uid_attribute=uid_attribute):
                    continue  # ou=, o=... under a broad filter: structure, like the LDIF reader skips
                self.entries_read += 1
                yield item["dn"], attrs
            if not paged:
                return
            control = (result.get("controls") or {}).get(PAGED_RESULTS_OID)
            if control is None:
                # RFC 2696: the server must answer with the control; without it we cannot know
                # whether this was the last page.
                raise self._fail(f"{doing}: the answer carries no paged-results control", "connection_lost")
            cookie = control.get("value", {}).get("cookie") or None
            if not cookie:
                return
