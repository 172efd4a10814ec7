"""A real OpenLDAP server for tests and benchmarks: ``with Slapd() as server: ...``.

``Slapd`` starts ``/usr/sbin/slapd`` in the foreground on a free 127.0.0.1 port, from a generated
``slapd.conf`` (``-f``, not cn=config) in a temporary directory: mdb backend, suffix ``o=gouv,c=fr``,
the core, cosine, inetorgperson and nis schemas plus ``importers/data/academy.schema``, the indexes
an importer's filters need, and no size limit (paged searches go to the end). It starts empty;
:meth:`Slapd.load_ldif` bulk-loads LDIF files with ``slapadd`` (stopping and restarting the server),
and :meth:`Slapd.connection` gives a bound ldap3 connection.

Failure drills: :meth:`Slapd.stop_abruptly` SIGKILLs the server (its data stays), :meth:`Slapd.restart`
brings it back on the same port with the same data. slapd must run as root here (as CI does).

TLS: ``Slapd(tls=make_test_pki(dir))`` also listens on ``ldaps://`` (:attr:`Slapd.ldaps_url`) and
offers StartTLS on ``ldap://``, with a server certificate for 127.0.0.1 and ``localhost`` signed by
a throw-away CA that :func:`make_test_pki` creates with the ``openssl`` command.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

with warnings.catch_warnings():
    # pyasn1 0.6 deprecates names (tagMap, typeMap) that ldap3 2.9 imports; not ours to fix, and
    # the tests turn warnings into errors.
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*Map is deprecated")
    import ldap3


__all__ = [
    "ACADEMY_SCHEMA",
    "SLAPADD",
    "SLAPD",
    "SlapaddResult",
    "Slapd",
    "TestPki",
    "available",
    "make_test_pki",
]

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
OPENSSL = Path("/usr/bin/openssl")
SCHEMA_DIR = Path("/etc/ldap/schema")
ACADEMY_SCHEMA = Path(__file__).resolve().parent.parent / "importers" / "data" / "academy.schema"
MODULE_DIR = Path("/usr/lib/ldap")

_PARENTS = (
    ("o=gouv,c=fr", "objectClass: top\nobjectClass: organization\no: gouv\n"),
    ("ou=education,o=gouv,c=fr", "objectClass: top\nobjectClass: organizationalUnit\nou: education\n"),
)


def available() -> bool:
    """Whether slapd and slapadd are installed (Debian packages ``slapd`` and ``ldap-utils``)."""
    return SLAPD.exists() and SLAPADD.exists()


@dataclass(frozen=True, slots=True)
class TestPki:
    """Throw-away TLS files: a CA, a server certificate it signed, and an unrelated CA."""

    __test__ = False  # not a test class, whatever its name says

    ca: Path
    """The CA certificate a client must trust (a feed's ``ca_file``)."""
    cert: Path
    """The server certificate: 127.0.0.1 and ``localhost``, signed by ``ca``."""
    key: Path
    other_ca: Path
    """A CA that signed nothing of this server: trusting only it must fail."""


def make_test_pki(directory: Path) -> TestPki:
    """Create a CA, a server key and certificate signed by it, and a second CA, in ``directory``.

    RSA 2048 and one day of validity: enough for a test run, generated in a fraction of a second.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        done = subprocess.run([str(OPENSSL), *args], capture_output=True, check=False, cwd=directory)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")

    for name in ("ca", "other-ca"):
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN=directory test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        encoding="utf-8",
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    return TestPki(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        other_ca=directory / "other-ca.pem",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class SlapaddResult:
    """What ``slapadd`` did: entries offered, entries refused (with its messages)."""

    offered: int
    refused: int
    messages: list[str]

    @property
    def added(self) -> int:
        """Entries now in the database from this load."""
        return self.offered - self.refused


class Slapd:
    """One throw-away slapd; see the module docstring."""

    base_dn = "o=gouv,c=fr"
    bind_dn = "cn=admin,o=gouv,c=fr"

    def __init__(
        self,
        *,
        password: str = "test-password",
        port: int | None = None,
        workdir: Path | None = None,
        tls: TestPki | None = None,
    ) -> None:
        self.password = password
        self.port = port or _free_port()
        self.tls = tls
        self.tls_port = _free_port() if tls is not None else None
        # A given workdir is kept by stop() (and its data reused by the next Slapd on it): the
        # benchmark loads 300,000 entries once and reuses them across runs.
        self.keep = workdir is not None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="directory-slapd-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "slapd.conf"
        self.data = self.workdir / "data"
        self.data.mkdir(exist_ok=True)
        self.log = self.workdir / "slapd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.conf.write_text(self._config(), encoding="utf-8")

    @property
    def url(self) -> str:
        """``ldap://127.0.0.1:<port>``."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """``ldaps://127.0.0.1:<tls port>`` (a server started with ``tls``)."""
        if self.tls_port is None:
            raise RuntimeError("this slapd has no TLS listener (start it with tls=make_test_pki(...))")
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def running(self) -> bool:
        """Whether the slapd process is alive."""
        return self._process is not None and self._process.poll() is None

    def _config(self) -> str:
        schemas = [SCHEMA_DIR / f"{name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")]
        lines = [f"include {path}" for path in [*schemas, ACADEMY_SCHEMA]]
        if self.tls is not None:
            lines += [
                f"TLSCACertificateFile {self.tls.ca}",
                f"TLSCertificateFile {self.tls.cert}",
                f"TLSCertificateKeyFile {self.tls.key}",
            ]
        lines += [
            f"modulepath {MODULE_DIR}",
            "moduleload back_mdb",
            f"pidfile {self.workdir / 'slapd.pid'}",
            f"argsfile {self.workdir / 'slapd.args'}",
            "sizelimit unlimited",
            "timelimit unlimited",
            "tool-threads 2",
            "database mdb",
            f'suffix "{self.base_dn}"',
            f'rootdn "{self.bind_dn}"',
            f"rootpw {self.password}",
            f"directory {self.data}",
            "maxsize 34359738368",  # 32 GiB of address space; the file grows only as needed
            "dbnosync",  # test data: the page cache is durable enough, and loads are much faster
            "index objectClass eq",
            "index uid,cn,sn,givenName,mail,displayName eq,sub",
            "index entryUUID,modifyTimestamp,createTimestamp eq",
        ]
        return "\n".join(lines) + "\n"

    # --- life cycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Start slapd and wait until it accepts a bind; raise ``RuntimeError`` if it does not."""
        if self.running:
            return
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(SLAPD), "-d", "0", "-f", str(self.conf), "-h", self._listeners()],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the test run does not reach it first
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self._process.returncode}: {self._tail_log()}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop_abruptly()
        raise RuntimeError(f"slapd did not answer within {timeout} s: {self._tail_log()}")

    def _listeners(self) -> str:
        urls = [f"{self.url}/"]
        if self.tls_port is not None:
            urls.append(f"{self.ldaps_url}/")
        return " ".join(urls)

    def _answers(self) -> bool:
        try:  # a plain TCP probe first: ldap3 leaves a socket behind when it cannot connect
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            if self.tls_port is not None:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
        except OSError:
            return False
        conn = ldap3.Connection(
            ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=1),
            user=self.bind_dn,
            password=self.password,
        )
        try:
            return bool(conn.bind())
        except ldap3.core.exceptions.LDAPException:
            return False
        finally:
            conn.unbind()

    def _tail_log(self) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return text[-2000:]

    def _halt(self) -> None:
        """Stop the process gracefully (SIGTERM, then SIGKILL after 10 s); keep the data."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        """Stop slapd and delete its directory (configuration and data), unless it was given."""
        self._halt()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_abruptly(self) -> None:
        """SIGKILL slapd, as a crash would; the data stays for :meth:`restart`."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop slapd if it runs (gracefully) and start it again: same port, same data."""
        self._halt()
        self.start()

    def __enter__(self) -> Slapd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- data ----------------------------------------------------------------------------------

    def connection(self) -> ldap3.Connection:
        """A new connection bound as the root DN (the caller unbinds it)."""
        try:  # ldap3 leaves its socket open when it cannot connect: probe first
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        except OSError as exc:
            raise RuntimeError(f"slapd at {self.url} does not answer: {exc}") from exc
        conn = ldap3.Connection(
            ldap3.Server(self.url, get_info=ldap3.NONE), user=self.bind_dn, password=self.password
        )
        if not conn.bind():
            conn.unbind()
            raise RuntimeError(f"cannot bind to {self.url}: {conn.result}")
        return conn

    def count(self, search_filter: str = "(uid=*)", base: str | None = None) -> int:
        """The number of entries under ``base`` (default: the suffix) matching the filter (paged)."""
        conn = self.connection()
        try:
            found = conn.extend.standard.paged_search(
                base or self.base_dn, search_filter, attributes=[], paged_size=1000, generator=True
            )
            return sum(1 for item in found if item.get("type") == "searchResEntry")
        finally:
            conn.unbind()

    def load_ldif(self, paths: Iterable[Path], *, schema_check: bool = False) -> SlapaddResult:
        """Bulk-load LDIF files with ``slapadd`` (fast: about 10 times ldapadd) and restart.

        ``o=gouv,c=fr`` and ``ou=education`` are added first when missing. Without ``schema_check``
        the load is as lax as the academy servers (an entry without ``sn`` goes in); entries slapd
        cannot store at all (a Directory String that is not UTF-8) are refused, counted in the
        result, and the load goes on.
        """
        paths = list(paths)
        was_running = self.running
        missing = self._missing_parents() if was_running else list(_PARENTS)
        self._halt()
        parents = self.workdir / "parents.ldif"
        parents.write_text("".join(f"dn: {dn}\n{body}\n" for dn, body in missing), encoding="utf-8")
        offered = len(missing) + sum(_count_entries(p) for p in paths)
        messages: list[str] = []
        for path in [parents, *paths]:
            command = [str(SLAPADD), "-f", str(self.conf), "-q", "-c", "-l", str(path)]
            if not schema_check:
                command.insert(1, "-s")
            done = subprocess.run(command, capture_output=True, check=False)
            messages += [
                line for line in done.stderr.decode("utf-8", "replace").splitlines() if "could not" in line
            ]
        self.start()
        return SlapaddResult(offered=offered, refused=len(messages), messages=messages)

    def _missing_parents(self) -> list[tuple[str, str]]:
        conn = self.connection()
        try:
            missing = []
            for dn, body in _PARENTS:
                conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[])
                if not conn.entries:
                    missing.append((dn, body))
            return missing
        finally:
            conn.unbind()


def _count_entries(path: Path) -> int:
    """Entries in an LDIF file: the lines that start a record (``dn:`` or ``dn::``)."""
    with path.open("rb") as stream:
        return sum(1 for line in stream if line.startswith(b"dn:"))
