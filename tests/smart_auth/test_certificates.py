"""CAC/PIV identity: the EDIPI from a common name, a certificate, or a TLS proxy's header."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_auth.certificates import (
    MAX_HEADER_CHARS,
    CertificateIdentityError,
    edipi_from_certificate,
    edipi_from_common_name,
    edipi_from_proxy_header,
)

EDIPI = "1234567890"
DOD_DN_TAIL = [
    (NameOID.COUNTRY_NAME, "US"),
    (NameOID.ORGANIZATION_NAME, "U.S. Government"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "DoD"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "PKI"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "USA"),
]

KEY = ec.generate_private_key(ec.SECP256R1())

name_part = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-' "),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() != "")
edipis = st.text(st.sampled_from("0123456789"), min_size=10, max_size=10)


def certificate(common_names: list[str]) -> x509.Certificate:
    """A self-signed certificate whose subject is the DoD DN with these CNs (0, 1 or more)."""
    attributes = [x509.NameAttribute(oid, value) for oid, value in DOD_DN_TAIL]
    attributes += [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names]
    subject = x509.Name(attributes)
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(KEY, hashes.SHA256())
    )


def pem(cn: str = f"DOE.JOHN.A.{EDIPI}") -> bytes:
    return certificate([cn]).public_bytes(serialization.Encoding.PEM)


def der(cn: str = f"DOE.JOHN.A.{EDIPI}") -> bytes:
    return certificate([cn]).public_bytes(serialization.Encoding.DER)


# --- common names ----------------------------------------------------------------------------


def test_cn_with_middle_name_gives_edipi() -> None:
    assert edipi_from_common_name(f"DOE.JOHN.A.{EDIPI}") == EDIPI


def test_cn_without_middle_name_gives_edipi() -> None:
    assert edipi_from_common_name(f"DOE.JOHN.{EDIPI}") == EDIPI


@pytest.mark.parametrize(
    "cn", [f"SMITH-JONES.MARY.K.{EDIPI}", f"O'BRIEN.PATRICK.{EDIPI}", f"VAN DYKE.D'ANN.{EDIPI}"]
)
def test_cn_names_may_contain_hyphens_apostrophes_and_spaces(cn: str) -> None:
    assert edipi_from_common_name(cn) == EDIPI


def test_edipi_keeps_leading_zeros() -> None:
    assert edipi_from_common_name("DOE.JOHN.0000012345") == "0000012345"


@settings(max_examples=100, deadline=None)
@given(last=name_part, first=name_part, middle=st.none() | name_part, edipi=edipis)
def test_any_well_formed_cn_gives_its_edipi(
    last: str, first: str, middle: str | None, edipi: str
) -> None:
    names = [last, first] if middle is None else [last, first, middle]
    assert edipi_from_common_name(".".join([*names, edipi])) == edipi


@pytest.mark.parametrize(
    "cn",
    [
        "DOE.JOHN.A.123456789",  # 9 digits
        "DOE.JOHN.A.12345678901",  # 11 digits
        "DOE.JOHN.A.12345ABCDE",  # letters
        "DOE.JOHN.A.\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660",  # Arabic digits
        "DOE.JOHN.A.1234567890 ",
        "DOE.JOHN.A",
        "DOE.JOHN.A.",
    ],
)
def test_cn_without_10_digit_final_field_is_rejected(cn: str) -> None:
    with pytest.raises(CertificateIdentityError, match="10-digit DoD ID"):
        edipi_from_common_name(cn)


def test_bare_edipi_without_names_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match=r"no LAST\.FIRST name"):
        edipi_from_common_name(EDIPI)


def test_cn_with_only_one_name_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match=r"no LAST\.FIRST name"):
        edipi_from_common_name(f"DOE.{EDIPI}")


@pytest.mark.parametrize("cn", [f"DOE..{EDIPI}", f".JOHN.{EDIPI}", f"DOE. .{EDIPI}"])
def test_cn_with_empty_name_field_is_rejected(cn: str) -> None:
    with pytest.raises(CertificateIdentityError, match="empty name field"):
        edipi_from_common_name(cn)


def test_cn_with_control_character_in_name_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="non-printable"):
        edipi_from_common_name(f"DOE\x00EVIL.JOHN.{EDIPI}")


def test_cn_that_is_not_a_cac_name_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="no dot-separated DoD ID"):
        edipi_from_common_name("John Doe")


def test_cn_error_does_not_quote_the_cn() -> None:
    with pytest.raises(CertificateIdentityError) as caught:
        edipi_from_common_name("DOE.JOHN.A.987654321")
    assert "987654321" not in str(caught.value)
    assert "DOE" not in str(caught.value)


def test_identity_error_is_a_value_error() -> None:
    assert issubclass(CertificateIdentityError, ValueError)


# --- certificates ----------------------------------------------------------------------------


def test_pem_certificate_gives_edipi() -> None:
    assert edipi_from_certificate(pem()) == EDIPI


def test_der_certificate_gives_edipi() -> None:
    assert edipi_from_certificate(der()) == EDIPI


def test_certificate_without_middle_name_gives_edipi() -> None:
    assert edipi_from_certificate(pem(f"DOE.JOHN.{EDIPI}")) == EDIPI


def test_pem_with_surrounding_whitespace_gives_edipi() -> None:
    assert edipi_from_certificate(b"\n  " + pem() + b"\n\n") == EDIPI


def test_certificate_without_cn_is_rejected() -> None:
    no_cn = certificate([]).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateIdentityError, match=r"no common name \(CN\)"):
        edipi_from_certificate(no_cn)


def test_certificate_with_two_cns_is_rejected() -> None:
    two = certificate([f"DOE.JOHN.{EDIPI}", "ROE.JANE.0987654321"])
    with pytest.raises(CertificateIdentityError, match="2 common names"):
        edipi_from_certificate(two.public_bytes(serialization.Encoding.DER))


@pytest.mark.parametrize("cn", [f"DOE.JOHN.A.{EDIPI[:-1]}", f"DOE.JOHN.A.{EDIPI}1", "DOE.JOHN.A.X"])
def test_certificate_with_bad_edipi_is_rejected(cn: str) -> None:
    with pytest.raises(CertificateIdentityError, match="10-digit DoD ID"):
        edipi_from_certificate(pem(cn))


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"\x30\x03\x02\x01\x01", der()[:-10]])
def test_bytes_that_are_not_a_certificate_are_rejected(data: bytes) -> None:
    with pytest.raises(CertificateIdentityError, match="could not parse"):
        edipi_from_certificate(data)


def test_broken_pem_is_rejected() -> None:
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateIdentityError, match="could not parse the PEM"):
        edipi_from_certificate(broken)


def test_pem_with_several_certificates_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="exactly one PEM certificate, found 2"):
        edipi_from_certificate(pem() + pem(f"ROE.JANE.{EDIPI}"))


# --- proxy header: certificate ---------------------------------------------------------------


def test_header_with_url_escaped_pem_gives_edipi() -> None:
    escaped = quote(pem().decode(), safe="")
    assert escaped.startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert edipi_from_proxy_header(escaped) == EDIPI


def test_header_with_nginx_style_escaped_pem_keeps_plus_signs() -> None:
    # nginx escapes spaces and newlines but may leave base64 '+' and '/' as they are.
    text = pem().decode()
    escaped = text.replace("%", "%25").replace(" ", "%20").replace("\n", "%0A")
    assert edipi_from_proxy_header(escaped) == EDIPI


def test_header_with_plain_pem_gives_edipi() -> None:
    assert edipi_from_proxy_header(pem().decode()) == EDIPI


def test_header_with_tab_indented_pem_gives_edipi() -> None:
    lines = pem().decode().strip().split("\n")
    assert edipi_from_proxy_header("\n\t".join(lines)) == EDIPI


def test_header_with_escaped_pem_without_cn_is_rejected() -> None:
    no_cn = certificate([]).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CertificateIdentityError, match="no common name"):
        edipi_from_proxy_header(quote(no_cn, safe=""))


def test_header_with_escaped_non_ascii_pem_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="not ASCII"):
        edipi_from_proxy_header("-----BEGIN%20CERTIFICATE-----%0A%FF%0A-----END%20CERTIFICATE-----")


# --- proxy header: subject DN ----------------------------------------------------------------


def test_header_with_dod_subject_dn_gives_edipi() -> None:
    dn = f"CN=DOE.JOHN.A.{EDIPI},OU=USA,OU=PKI,OU=DoD,O=U.S. Government,C=US"
    assert edipi_from_proxy_header(dn) == EDIPI


def test_header_dn_without_middle_name_gives_edipi() -> None:
    assert edipi_from_proxy_header(f"CN=DOE.JOHN.{EDIPI},OU=DoD,C=US") == EDIPI


def test_header_dn_with_escaped_commas_gives_edipi() -> None:
    dn = f"CN=DOE\\, JR.JOHN.{EDIPI},O=U.S. Government\\, DoD,C=US"
    assert edipi_from_proxy_header(dn) == EDIPI


def test_header_dn_escaped_comma_does_not_split_the_cn() -> None:
    with pytest.raises(CertificateIdentityError, match="10-digit DoD ID"):
        edipi_from_proxy_header(f"CN=DOE.JOHN.A\\,{EDIPI},C=US")


def test_header_dn_with_hex_escapes_gives_edipi() -> None:
    # \2C is a comma, \C3\A9 is UTF-8 for e-acute.
    assert edipi_from_proxy_header(f"CN=REN\\C3\\A9\\2C JR.JOHN.{EDIPI},C=US") == EDIPI


def test_header_dn_with_cn_not_first_gives_edipi() -> None:
    assert edipi_from_proxy_header(f"C=US,O=U.S. Government,CN=DOE.JOHN.{EDIPI}") == EDIPI


def test_header_dn_with_spaces_after_separators_gives_edipi() -> None:
    assert edipi_from_proxy_header(f"CN = DOE.JOHN.{EDIPI} , OU=DoD, C=US") == EDIPI


@pytest.mark.parametrize("cn_type", ["cn", "commonName", "2.5.4.3", "OID.2.5.4.3"])
def test_header_dn_accepts_other_spellings_of_cn(cn_type: str) -> None:
    assert edipi_from_proxy_header(f"{cn_type}=DOE.JOHN.{EDIPI},C=US") == EDIPI


def test_header_dn_with_multi_valued_rdn_gives_edipi() -> None:
    assert edipi_from_proxy_header(f"UID=jdoe+CN=DOE.JOHN.{EDIPI},C=US") == EDIPI


def test_header_dn_without_cn_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match=r"no common name \(CN\)"):
        edipi_from_proxy_header("OU=USA,OU=PKI,OU=DoD,O=U.S. Government,C=US")


def test_header_dn_with_two_cns_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="2 common names"):
        edipi_from_proxy_header(f"CN=DOE.JOHN.{EDIPI},CN=ROE.JANE.0987654321,C=US")


@pytest.mark.parametrize("edipi", ["123456789", "12345678901", "12345ABCDE"])
def test_header_dn_with_bad_edipi_is_rejected(edipi: str) -> None:
    with pytest.raises(CertificateIdentityError, match="10-digit DoD ID"):
        edipi_from_proxy_header(f"CN=DOE.JOHN.A.{edipi},OU=DoD,C=US")


@pytest.mark.parametrize(
    ("dn", "problem"),
    [
        (f"/C=US/O=U.S. Government/CN=DOE.JOHN.{EDIPI}", "malformed attribute type"),
        (f"CN=DOE.JOHN.{EDIPI},", "without '='"),
        (f"CN=DOE.JOHN.{EDIPI},,C=US", "malformed attribute type"),
        (f"CN=DOE.JOHN.{EDIPI}\\", "invalid backslash escape"),
        (f"CN=DOE\\qJOHN.{EDIPI}", "invalid backslash escape"),
        (f'CN=DOE"JOHN.{EDIPI}', "unescaped special character"),
        (f"CN=DOE.JOHN.{EDIPI};C=US", "unescaped special character"),
        (f"CN=DOE\\FF.JOHN.{EDIPI}", "not UTF-8"),
        ("CN=#0C03414243", "not supported"),
        ("CN=#0C0", "malformed #hex"),
        (f"=DOE.JOHN.{EDIPI}", "malformed attribute type"),
        (f"DOE.JOHN.{EDIPI}", "without '='"),
    ],
)
def test_malformed_header_dn_is_rejected(dn: str, problem: str) -> None:
    with pytest.raises(CertificateIdentityError, match=problem):
        edipi_from_proxy_header(dn)


@settings(max_examples=100, deadline=None)
@given(
    last=st.text(
        st.characters(exclude_categories=["C"], exclude_characters="."), min_size=1, max_size=20
    ).filter(lambda s: s.strip() != "" and len(s.encode()) <= 20),  # a CN holds 64 bytes
    first=name_part,
    edipi=edipis,
)
def test_header_dn_from_rfc4514_serializer_gives_edipi(last: str, first: str, edipi: str) -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "U.S. Government, DoD"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{last}.{first}.{edipi}"),
        ]
    )
    assert edipi_from_proxy_header(subject.rfc4514_string()) == edipi


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_header_is_rejected(value: str) -> None:
    with pytest.raises(CertificateIdentityError, match="empty"):
        edipi_from_proxy_header(value)


def test_oversized_header_is_rejected() -> None:
    with pytest.raises(CertificateIdentityError, match="longer than"):
        edipi_from_proxy_header("CN=" + "A" * MAX_HEADER_CHARS)
