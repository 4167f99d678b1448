"""Regenerate the C2PA test files in this folder: ``.venv/bin/python tests/data/c2pa/make.py``.

A throw-away test CA and an ES256 leaf are made with ``cryptography`` (the leaf has what C2PA asks of a signing
certificate: not self-signed, digitalSignature, the emailProtection EKU, SKI/AKI, long validity so the tests keep
passing); small 64x64 JPEGs from Pillow are signed with ``c2pa-python``'s Builder, no timestamp authority:

- ``plain.jpg``: no manifest at all;
- ``location_fr.jpg``: a ``stds.schema-org.CreativeWork`` with ``locationCreated`` in France (addressCountry FR);
- ``metadata_gps.jpg``: a ``c2pa.metadata`` assertion with ``exif:GPSLatitude``/``exif:GPSLongitude`` (Rome, IT);
- ``training_notallowed.jpg``: a training-mining assertion, ``c2pa.ai_generative_training`` notAllowed,
  ``c2pa.data_mining`` constrained, ``c2pa.ai_inference`` allowed;
- ``tampered.jpg``: ``location_fr.jpg`` with one byte of the image data changed after signing.

The functions are imported by the tests too (e.g. to sign a file referencing a remote manifest at test time).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GENERATOR = [{"name": "provaudit-tests", "version": "1"}]


def make_chain() -> tuple[bytes, bytes]:
    """``(certificate chain PEM: leaf then CA, leaf private key PKCS#8 PEM)`` of a fresh test CA and ES256 leaf."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2099, 12, 31, tzinfo=dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provaudit test CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provaudit tests")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provaudit test signer"),
                           x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provaudit tests")])
    leaf_cert = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf_cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    key = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return chain, key


def plain_jpeg(color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A 64x64 JPEG without any metadata."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, "JPEG", quality=80)
    return out.getvalue()


def sign_jpeg(source: bytes, assertions: list[dict[str, Any]], chain: bytes, key: bytes,
              remote_url: str | None = None) -> bytes:
    """``source`` with a C2PA manifest holding ``assertions`` signed by ``chain``/``key`` (no timestamp). With
    ``remote_url`` the manifest is not embedded: the file only references it by URL."""
    import c2pa

    manifest = {"claim_generator_info": GENERATOR, "title": "provaudit test image", "format": "image/jpeg",
                "assertions": [CREATED, *assertions]}
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})  # keeps the files small
    with context, c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest), context) as builder:
        if remote_url is not None:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        dest = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(source), dest)
        return dest.getvalue()


CREATED = {"label": "c2pa.actions", "data": {"actions": [
    {"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}

LOCATION_FR = {"label": "stds.schema-org.CreativeWork", "data": {
    "@context": "https://schema.org", "@type": "CreativeWork",
    "author": [{"@type": "Person", "name": "Test Photographer"}],
    "locationCreated": {"@type": "Place", "name": "Lyon",
                        "address": {"@type": "PostalAddress", "addressLocality": "Lyon", "addressCountry": "FR"}}}}

METADATA_GPS = {"label": "c2pa.metadata", "data": {
    "@context": {"exif": "http://ns.adobe.com/exif/1.0/"},
    "exif:GPSLatitude": "41,53.4N", "exif:GPSLongitude": "12,29.5E"}}

TRAINING = {"label": "c2pa.training-mining", "data": {"entries": {
    "c2pa.ai_generative_training": {"use": "notAllowed"},
    "c2pa.data_mining": {"use": "constrained", "constraint_info": "ask first"},
    "c2pa.ai_inference": {"use": "allowed"}}}}


def tamper(signed: bytes) -> bytes:
    """``signed`` with one byte of the entropy-coded image data changed (the last byte before EOI)."""
    data = bytearray(signed)
    at = len(data) - 3
    data[at] ^= 0x01
    return bytes(data)


def main() -> None:
    chain, key = make_chain()
    plain = plain_jpeg()
    (HERE / "plain.jpg").write_bytes(plain)
    fr = sign_jpeg(plain_jpeg((200, 60, 60)), [LOCATION_FR], chain, key)
    (HERE / "location_fr.jpg").write_bytes(fr)
    (HERE / "metadata_gps.jpg").write_bytes(sign_jpeg(plain_jpeg((60, 200, 60)), [METADATA_GPS], chain, key))
    (HERE / "training_notallowed.jpg").write_bytes(sign_jpeg(plain_jpeg((90, 90, 90)), [TRAINING], chain, key))
    (HERE / "tampered.jpg").write_bytes(tamper(fr))


if __name__ == "__main__":
    main()
