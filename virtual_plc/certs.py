"""Self-signed OPC UA application certificates, made with asyncua's own generator.

An OPC UA application (the edge as a client, the virtual PLC as a server) proves who it is with an
X.509 certificate whose subject alternative names carry its application URI and host name; a
server that requires ``Basic256Sha256`` trusts a client by that certificate.
:func:`create_certificate` writes a 2048-bit RSA key (PEM) and a certificate (DER) valid for a
year, as ``twin certs create`` does. The key file is readable by its owner only.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

CERTIFICATE_FILE = "certificate.der"
KEY_FILE = "private_key.pem"


def create_certificate(folder: str | Path, application_uri: str, *, host_name: str | None = None,
                       server: bool = False, organisation: str = "Quality Twin") -> tuple[Path, Path]:
    """Write ``certificate.der`` and ``private_key.pem`` for ``application_uri`` into ``folder``; returns
    (certificate, key). An existing valid pair for the same URI and host is kept, not replaced.

    ``server`` marks the certificate for server authentication as well as client authentication.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / CERTIFICATE_FILE, folder / KEY_FILE
    uses: list[x509.ObjectIdentifier] = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        uses.append(ExtendedKeyUsageOID.SERVER_AUTH)
    asyncio.run(setup_self_signed_certificate(key, cert, application_uri, host_name or socket.gethostname(), uses,
                                              {"organizationName": organisation}))
    os.chmod(key, 0o600)
    return cert, key
