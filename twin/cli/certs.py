"""``twin certs create``: a certificate and key for an OPC UA session with security (:mod:`virtual_plc.certs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from twin.cli.common import command_group, console, fail

certs_app = command_group("OPC UA application certificates for secured sessions.")


@certs_app.command("create")
def certs_create(
    out: Path = typer.Option(Path("pki"), help="folder for certificate.der and private_key.pem"),
    application_uri: str = typer.Option("urn:quality-twin:edge", help="the application URI the certificate names "
                                        "(the endpoint file's application_uri must be the same)"),
    host_name: Optional[str] = typer.Option(None, help="host name in the certificate (default: this machine's)"),
    server: bool = typer.Option(False, help="also for a server (the virtual PLC with security)"),
) -> None:
    """Make a self-signed certificate and private key for the edge (or, with --server, the virtual PLC)."""
    from virtual_plc.certs import create_certificate

    try:
        cert, key = create_certificate(out, application_uri, host_name=host_name, server=server)
    except (OSError, ValueError) as err:
        raise fail(f"could not write the certificate into {out}: {err}", 1) from None
    console.print(f"certificate {cert}\nprivate key {key} (owner-readable only)", markup=False, highlight=False)
    console.print("In the endpoint file:\n"
                  f"    security: Basic256Sha256\n    certificate: {cert}\n    private_key: {key}\n"
                  f"    application_uri: {application_uri}\n"
                  "The server must trust this certificate (copy certificate.der into its trusted folder).",
                  markup=False, highlight=False)
