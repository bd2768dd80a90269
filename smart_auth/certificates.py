"""CAC/PIV login identity: the DoD ID number (EDIPI) of a client certificate's holder.

A DoD Common Access Card certificate names its holder in the subject common name as
``LAST.FIRST.MIDDLE.1234567890`` (or ``LAST.FIRST.1234567890`` without a middle name); the last
dot-separated field is the 10-digit DoD ID number, the EDIPI, which is what identifies the user.

This module only *reads* identities. It does not check that a certificate is genuine, unexpired
or unrevoked: that is the job of the TLS endpoint which asked for the client certificate, and a
value passed to :func:`edipi_from_proxy_header` must come from a trusted TLS-terminating proxy
that verified the certificate and overwrites any copy of the header a client sent.

Error messages describe what is wrong without quoting the name or number, so they can be logged.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import NameOID

EDIPI_LENGTH = 10
MAX_HEADER_CHARS = 64 * 1024

_EDIPI = re.compile(r"[0-9]{10}", re.ASCII)
_PEM_BEGIN = "-----BEGIN"
_CN_OID = NameOID.COMMON_NAME.dotted_string
_KEYSTRING = re.compile(r"[A-Za-z][A-Za-z0-9-]*", re.ASCII)
_NUMERICOID = re.compile(r"(?:OID\.)?((?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+)", re.ASCII | re.I)
_HEX = frozenset("0123456789abcdefABCDEF")
# Characters that RFC 4514 lets a backslash escape as themselves.
_ESCAPABLE = frozenset(' "#+,;<=>\\')
# Characters that must not appear unescaped in an attribute value.
_MUST_ESCAPE = frozenset('";<>\\')


class CertificateIdentityError(ValueError):
    """A certificate, common name or proxy header that does not name a DoD ID holder."""


def edipi_from_common_name(cn: str) -> str:
    """The EDIPI in a CAC subject common name such as ``DOE.JOHN.A.1234567890``.

    The last dot-separated field must be exactly ten ASCII digits, and it must follow at least
    a last and a first name. Name fields may hold any printable characters (hyphens, apostrophes,
    spaces) but no dots or control characters.
    """
    fields = cn.split(".")
    edipi = fields[-1]
    if not _EDIPI.fullmatch(edipi):
        if len(fields) == 1:
            raise CertificateIdentityError(
                "certificate common name has no dot-separated DoD ID (EDIPI) field;"
                " expected LAST.FIRST[.MIDDLE].<10-digit EDIPI>"
            )
        raise CertificateIdentityError(
            "certificate common name does not end in a 10-digit DoD ID (EDIPI): the final field"
            f" has {len(edipi)} characters"
            + ("" if edipi.isascii() and edipi.isdigit() else ", not all of them digits")
        )
    names = fields[:-1]
    if len(names) < 2:
        raise CertificateIdentityError(
            "certificate common name has no LAST.FIRST name before its DoD ID (EDIPI)"
        )
    if any(not name.strip() for name in names):
        raise CertificateIdentityError("certificate common name has an empty name field")
    if any(unicodedata.category(char).startswith("C") for name in names for char in name):
        raise CertificateIdentityError("certificate common name contains non-printable characters")
    return edipi


def _load_certificate(pem_or_der: bytes) -> x509.Certificate:
    if pem_or_der.lstrip().startswith(_PEM_BEGIN.encode("ascii")):
        try:
            certificates = x509.load_pem_x509_certificates(pem_or_der)
        except ValueError:
            raise CertificateIdentityError("could not parse the PEM certificate") from None
        if len(certificates) != 1:
            raise CertificateIdentityError(
                f"expected exactly one PEM certificate, found {len(certificates)}"
            )
        return certificates[0]
    try:
        return x509.load_der_x509_certificate(pem_or_der)
    except ValueError:
        raise CertificateIdentityError("could not parse the certificate as PEM or DER") from None


def _single_common_name(values: list[str]) -> str:
    if not values:
        raise CertificateIdentityError("certificate subject has no common name (CN)")
    if len(values) > 1:
        raise CertificateIdentityError(
            f"certificate subject has {len(values)} common names (CN); expected exactly one"
        )
    return values[0]


def edipi_from_certificate(pem_or_der: bytes) -> str:
    """The EDIPI in the subject CN of one X.509 certificate, given as PEM or DER bytes.

    Raises CertificateIdentityError if the bytes are not exactly one certificate, if its
    subject has no CN or several, or if the CN does not end in a 10-digit EDIPI.
    """
    certificate = _load_certificate(bytes(pem_or_der))
    try:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        raise CertificateIdentityError("could not parse the certificate subject") from None
    values: list[str] = []
    for attribute in attributes:
        if not isinstance(attribute.value, str):
            raise CertificateIdentityError("certificate subject common name is not text")
        values.append(attribute.value)
    return edipi_from_common_name(_single_common_name(values))


def _is_common_name_type(attribute_type: str) -> bool:
    """Whether an RFC 4514 attribute type is CN; raises on a malformed type."""
    if _KEYSTRING.fullmatch(attribute_type):
        return attribute_type.upper() in {"CN", "COMMONNAME"}
    numeric = _NUMERICOID.fullmatch(attribute_type)
    if numeric is None:
        raise CertificateIdentityError("subject DN has a malformed attribute type")
    return numeric[1] == _CN_OID


def _parse_value(dn: str, start: int) -> tuple[str | None, int]:
    """One attribute value of an RFC 4514 DN starting at ``start``: (text, index of the ``,``
    or ``+`` that ends it, or ``len(dn)``). Text is None for a ``#hex`` (BER) value."""
    i = start
    while i < len(dn) and dn[i] == " ":
        i += 1  # tolerate "CN= value"
    if i < len(dn) and dn[i] == "#":
        j = i + 1
        while j < len(dn) and dn[j] in _HEX:
            j += 1
        hex_digits = dn[i + 1 : j]
        while j < len(dn) and dn[j] == " ":
            j += 1
        if not hex_digits or len(hex_digits) % 2 or (j < len(dn) and dn[j] not in ",+"):
            raise CertificateIdentityError("subject DN has a malformed #hex attribute value")
        return None, j
    out: list[str] = []
    pending = bytearray()  # consecutive \XX escapes: UTF-8 bytes to decode together
    kept = 0  # length of ``out`` without trailing unescaped spaces

    def flush() -> None:
        nonlocal kept
        if pending:
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                raise CertificateIdentityError(
                    "subject DN has a hex escape that is not UTF-8"
                ) from None
            pending.clear()
            kept = len(out)

    while i < len(dn) and dn[i] not in ",+":
        char = dn[i]
        if char == "\\":
            pair = dn[i + 1 : i + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                pending.append(int(pair, 16))
                i += 3
                continue
            if i + 1 < len(dn) and dn[i + 1] in _ESCAPABLE:
                flush()
                out.append(dn[i + 1])
                kept = len(out)
                i += 2
                continue
            raise CertificateIdentityError("subject DN has an invalid backslash escape")
        flush()
        if char in _MUST_ESCAPE:
            raise CertificateIdentityError("subject DN has an unescaped special character")
        out.append(char)
        if char != " ":
            kept = len(out)
        i += 1
    flush()
    return "".join(out[:kept]), i


def _common_names_in_dn(dn: str) -> list[str]:
    """The CN values of an RFC 4514 distinguished name, in order."""
    common_names: list[str] = []
    i = 0
    while True:
        equals = dn.find("=", i)
        if equals < 0:
            raise CertificateIdentityError("subject DN has an attribute without '='")
        attribute_type = dn[i:equals].strip(" ")
        is_cn = _is_common_name_type(attribute_type)
        value, i = _parse_value(dn, equals + 1)
        if is_cn:
            if value is None:
                raise CertificateIdentityError(
                    "subject DN gives its common name as #hex (BER), which is not supported"
                )
            common_names.append(value)
        if i == len(dn):
            return common_names
        i += 1  # past the "," or "+"


def edipi_from_proxy_header(value: str) -> str:
    """The EDIPI of the client certificate a trusted TLS-terminating proxy passed in a header.

    Accepts either the certificate as URL-encoded PEM (nginx ``$ssl_client_escaped_cert``; plain
    PEM, including nginx's tab-indented ``$ssl_client_cert``, works too) or the certificate
    subject as an RFC 4514 DN string such as
    ``CN=DOE.JOHN.A.1234567890,OU=USA,OU=PKI,OU=DoD,O=U.S. Government,C=US``. DN parsing is
    slightly lenient: attribute types ignore case and spaces around ``,``/``+``/``=`` are
    ignored.
    """
    text = value.strip()
    if not text:
        raise CertificateIdentityError("client certificate header is empty")
    if len(text) > MAX_HEADER_CHARS:
        raise CertificateIdentityError(
            f"client certificate header is longer than {MAX_HEADER_CHARS} characters"
        )
    unescaped = unquote(text, errors="replace") if "%" in text else text
    if unescaped.lstrip().startswith(_PEM_BEGIN):
        pem = "\n".join(line.strip() for line in unescaped.strip().splitlines()) + "\n"
        if not pem.isascii():
            raise CertificateIdentityError("client certificate PEM is not ASCII")
        return edipi_from_certificate(pem.encode("ascii"))
    return edipi_from_common_name(_single_common_name(_common_names_in_dn(text)))
