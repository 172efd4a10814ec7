"""Search entries decoded straight from their BER, for ``importers.ldap.LdapReader``.

ldap3 decodes BER generically and builds two dictionaries per entry, looking a configuration
parameter up for every value: on a national scan that was nearly all of the client's time.
``EntriesOnly`` is ldap3's synchronous strategy with SearchResultEntry messages decoded here
(``_decode_entry``) into the shape the LDIF reader gives; every other message (bind, results,
controls, referrals) goes through ldap3 unchanged. Moved out of ``importers/ldap.py`` unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from ldap3.core import exceptions as ldap_errors
from ldap3.strategy.base import RESPONSE_COMPLETE, SESSION_TERMINATED_BY_SERVER
from ldap3.strategy.sync import SyncStrategy
from ldap3.utils.asn1 import decode_message_fast

__all__ = ["EntriesOnly"]

_SEARCH_RESULT_ENTRY: Final = 0x64  # [APPLICATION 4] SEQUENCE: SearchResultEntry (RFC 4511, 4.5.2)
_RECEIVE_SIZE: Final = 1 << 18
"""Bytes asked of the socket at a time: a few hundred entries per call instead of ldap3's 4 KiB."""


class _NotAnEntryError(Exception):
    """The message is not a plain SearchResultEntry: ldap3's own decoder takes it."""


def _decode_entry(message: bytes) -> tuple[int, str, bytes, dict[str, list[str | bytes]]]:
    """``(messageID, dn, raw dn, attributes)`` of one BER-encoded SearchResultEntry message.

    ldap3's generic decoder builds a tuple per BER element and calls a function per byte run (four
    fifths of a large scan's CPU); this reads the one shape a SearchResultEntry has (RFC 4511:
    ``SEQUENCE { messageID INTEGER, [APPLICATION 4] SEQUENCE { objectName OCTET STRING,
    attributes SEQUENCE OF SEQUENCE { type OCTET STRING, vals SET OF OCTET STRING } } }``)
    with inline definite-length parsing. Anything else raises ``_NotAnEntryError`` (or IndexError on a
    malformed message), and ldap3 decodes it.
    """
    # Outer SEQUENCE: its length is known to ldap3's receiver already; skip the header.
    if message[0] != 0x30:
        raise _NotAnEntryError
    n = message[1]
    i = 2 if n < 0x80 else 2 + (n & 0x7F)
    if message[i] != 0x02:
        raise _NotAnEntryError
    n = message[i + 1]
    message_id = int.from_bytes(message[i + 2 : i + 2 + n], "big", signed=True)
    i += 2 + n
    if message[i] != _SEARCH_RESULT_ENTRY:
        raise _NotAnEntryError
    n = message[i + 1]
    i = i + 2 if n < 0x80 else i + 2 + (n & 0x7F)
    # objectName
    if message[i] != 0x04:
        raise _NotAnEntryError
    n = message[i + 1]
    if n < 0x80:
        i += 2
    else:
        k = n & 0x7F
        n = int.from_bytes(message[i + 2 : i + 2 + k], "big")
        i += 2 + k
    raw_dn = message[i : i + n]
    i += n
    # attributes: SEQUENCE OF PartialAttribute
    if message[i] != 0x30:
        raise _NotAnEntryError
    n = message[i + 1]
    if n < 0x80:
        i += 2
    else:
        k = n & 0x7F
        n = int.from_bytes(message[i + 2 : i + 2 + k], "big")
        i += 2 + k
    end = i + n
    attrs: dict[str, list[str | bytes]] = {}
    while i < end:
        # PartialAttribute SEQUENCE header
        n = message[i + 1]
        i = i + 2 if n < 0x80 else i + 2 + (n & 0x7F)
        # type
        n = message[i + 1]
        if n < 0x80:
            i += 2
        else:
            k = n & 0x7F
            n = int.from_bytes(message[i + 2 : i + 2 + k], "big")
            i += 2 + k
        name = message[i : i + n].decode("ascii", "replace")
        i += n
        # vals SET
        n = message[i + 1]
        if n < 0x80:
            i += 2
        else:
            k = n & 0x7F
            n = int.from_bytes(message[i + 2 : i + 2 + k], "big")
            i += 2 + k
        stop = i + n
        values: list[str | bytes] = []
        while i < stop:
            n = message[i + 1]
            if n < 0x80:
                i += 2
            else:
                k = n & 0x7F
                n = int.from_bytes(message[i + 2 : i + 2 + k], "big")
                i += 2 + k
            raw = message[i : i + n]
            i += n
            try:
                values.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(raw)
        attrs[name] = values
    if i != end:
        raise _NotAnEntryError
    return message_id, raw_dn.decode("utf-8", "surrogateescape"), raw_dn, attrs


class EntriesOnly(SyncStrategy):
    """ldap3's synchronous strategy, decoding a search entry only as far as the importer needs.

    ldap3 decodes BER generically (a tuple per element, a call per value) and then turns each entry
    into two dictionaries (``attributes`` and ``raw_attributes``), looking a configuration
    parameter up for every value: nearly all of the client's time on a large scan. Here

    * a SearchResultEntry is decoded straight from its bytes by ``_decode_entry`` into one plain
      dict whose values are what the LDIF reader gives: ``str`` when UTF-8, the ``bytes``
      otherwise (``map_entry`` quarantines those as ``invalid_utf8``); the DN is decoded like the
      LDIF reader's too. Same types from both readers, same records;
    * every other message (bind, result, controls, referrals) goes through ldap3 as before;
    * the socket is read in large chunks without re-copying the unread bytes for each message.
    """

    def receiving(self) -> list[bytes]:  # type: ignore[override]  # ldap3's stub says None
        conn = self.connection
        if conn.sasl_mechanism is not None:  # SASL signing/sealing: ldap3's own loop knows it
            return super().receiving()  # type: ignore[no-any-return,no-untyped-call]
        messages: list[bytes] = []
        buffer = b""
        start = 0
        while True:
            try:
                data = conn.socket.recv(_RECEIVE_SIZE)
            except (OSError, AttributeError) as exc:
                conn.last_error = "error receiving data: " + str(exc)
                with contextlib.suppress(OSError, ldap_errors.LDAPExceptionError):
                    self.close()
                raise ldap_errors.communication_exception_factory(  # type: ignore[no-untyped-call]
                    ldap_errors.LDAPSocketReceiveError, type(exc)(str(exc))
                )(conn.last_error) from None
            if not data:
                return messages  # the server closed the connection: what came so far
            buffer = buffer[start:] + data if start < len(buffer) else data
            start = 0
            size = len(buffer)
            # Cut out every complete message; keep the tail for the next recv().
            while size - start > 2:
                n = buffer[start + 1]
                if n < 0x80:
                    length = n + 2
                else:
                    k = n & 0x7F
                    if size - start < 2 + k:
                        break
                    length = int.from_bytes(buffer[start + 2 : start + 2 + k], "big") + 2 + k
                if size - start < length:
                    break
                messages.append(buffer[start : start + length])
                start += length
            if start == size:
                # Stop at a message boundary, as ldap3 does: the caller asks again if it needs more.
                return messages

    def _get_response(self, message_id: int, timeout: Any) -> Any:
        conn = self.connection
        responses: list[Any] = []  # the entries' dicts, then ldap3's RESPONSE_COMPLETE marker
        generic: list[bytes] = []
        while True:
            messages = self.receiving()
            if not messages:
                return SESSION_TERMINATED_BY_SERVER
            for message in messages:
                try:
                    got_id, dn, raw_dn, attrs = _decode_entry(message)
                except (_NotAnEntryError, IndexError):
                    generic.append(message)
                    continue
                if got_id != message_id:
                    generic.append(message)  # ldap3 says what is wrong with it
                    continue
                if conn.usage:
                    conn._usage.update_received_message(len(message))
                responses.append(
                    {
                        "type": "searchResEntry",
                        "dn": dn,
                        "raw_dn": raw_dn,
                        "raw_attributes": attrs,
                        "attributes": attrs,
                    }
                )
            if generic:
                # Anything else (normally only the final searchResDone): ldap3's path, which also
                # checks message ids and unsolicited notifications. It ends the response or not.
                done = self._generic(generic, message_id, responses)
                generic.clear()
                if done is not None:
                    return done

    def _generic(self, messages: list[bytes], message_id: int, responses: list[Any]) -> Any:
        """ldap3's handling of non-entry messages (``SyncStrategy._get_response``), in order."""
        conn = self.connection
        complete = False
        for message in messages:
            if conn.usage:
                conn._usage.update_received_message(len(message))
            ldap_resp = decode_message_fast(message)  # type: ignore[no-untyped-call]
            response = self.decode_response_fast(ldap_resp)
            received = int(ldap_resp["messageID"])
            if received == message_id:
                responses.append(response)
                if response["type"] not in ("searchResEntry", "searchResRef", "intermediateResponse"):
                    complete = True
            elif received == 0:  # unsolicited notification (RFC 4511, 4.4)
                if response.get("responseName") == "1.3.6.1.4.1.1466.20036":  # notice of disconnection
                    return SESSION_TERMINATED_BY_SERVER
                conn.last_error = "unknown unsolicited notification from server"
                raise ldap_errors.LDAPSocketReceiveError(conn.last_error)
            else:
                conn.last_error = "invalid messageId received"
                raise ldap_errors.LDAPSocketReceiveError(conn.last_error)
        if complete:
            responses.append(RESPONSE_COMPLETE)
            return responses
        return None

    def decode_response_fast(self, ldap_message: dict[str, Any]) -> dict[str, Any]:
        if ldap_message["protocolOp"] != 4:  # not a searchResEntry: ldap3's own decoding
            result: dict[str, Any] = super().decode_response_fast(ldap_message)  # type: ignore[no-untyped-call]
            return result
        # An entry _decode_entry left to ldap3 (unusual encoding): the same shape as the fast path.
        payload = ldap_message["payload"]
        attrs: dict[str, list[str | bytes]] = {}
        for attribute in payload[1][3]:
            values: list[str | bytes] = []
            for value in attribute[3][1][3]:
                raw = value[3]
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    values.append(bytes(raw))
            attrs[attribute[3][0][3].decode("ascii", "replace")] = values
        dn = payload[0][3].decode("utf-8", "surrogateescape")
        return {
            "type": "searchResEntry",
            "dn": dn,
            "raw_dn": payload[0][3],
            "raw_attributes": attrs,
            "attributes": attrs,
        }
