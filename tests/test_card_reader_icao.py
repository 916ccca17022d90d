"""The sans-I/O ICAO 9303 core against the published worked example (tests/icao_vectors.py,
Doc 9303 Part 11 Appendix D), plus its refusals: wrong MRZ, altered or torn responses,
malformed files. No card here; tests/test_card_reader_pcsc.py reads one through pcscd."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.devices import icao_bac, icao_crypto, icao_lds, icao_mrz
from kiosk.devices.card_errors import BacFailed, BadCardData, NoCard, TornRead
from kiosk.devices.icao_reader import IdDocument, read_document
from kiosk.devices.icao_secure_messaging import SecureChannel, SecureMessagingError
from kiosk.devices.id_card_form import CardFallback, CardPrefill, read_for_form
from tests import icao_vectors as V


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def specimen_key() -> icao_mrz.MrzKey:
    return icao_mrz.MrzKey.parse(V.DOC_NUMBER, V.BIRTH, V.EXPIRY)


def test_d1_check_digits_and_mrz_information() -> None:
    assert icao_mrz.check_digit("L898902C<") == "3"
    assert icao_mrz.check_digit("690806") == "1"
    assert icao_mrz.check_digit("940623") == "6"
    assert specimen_key().information().decode() == V.MRZ_INFORMATION
    # typed without the filler and in lower case: the same key
    assert icao_mrz.MrzKey.parse("l898902c", "690806", "940623").information() == specimen_key().information()


def test_d2_key_derivation() -> None:
    keys = icao_bac.access_keys(specimen_key())
    assert (keys.seed.hex().upper(), keys.enc.hex().upper(), keys.mac.hex().upper()) == (V.K_SEED, V.K_ENC, V.K_MAC)


def test_d2_long_document_number_td2() -> None:
    mrz = icao_mrz.parse_mrz(V.TD2_LONG)
    assert mrz.document_number == V.TD2_LONG_NUMBER and mrz.check_digits_ok
    assert icao_bac.access_keys(mrz.key()).seed.hex().upper() == V.TD2_LONG_K_SEED


def _handshake(key: icao_mrz.MrzKey) -> icao_bac.Handshake:
    return icao_bac.start(key, h(V.RND_ICC), h(V.RND_IFD), h(V.K_IFD))


def test_d3_mutual_authentication() -> None:
    hs = _handshake(specimen_key())
    assert hs.command() == h("0082000028" + V.CMD_DATA + "28")
    session = hs.finish(h(V.RESP_DATA))
    assert session.enc.hex().upper() == V.KS_ENC
    assert session.mac.hex().upper() == V.KS_MAC
    assert session.ssc == int(V.SSC, 16)


def test_d3_wrong_birth_date_fails_bac() -> None:
    wrong = icao_mrz.MrzKey.parse("L898902C", "690807", "940623")
    with pytest.raises(BacFailed, match="MRZ data do not match"):
        _handshake(wrong).finish(h(V.RESP_DATA))


def test_d4_secure_messaging_reads_ef_com() -> None:
    sm = SecureChannel(icao_bac.Session(h(V.KS_ENC), h(V.KS_MAC), int(V.SSC, 16)))
    data = b""
    for plain, protected, response, expect in V.SM_STEPS:
        p = h(plain)
        le = p[4] if p[1] == 0xB0 else None
        body = p[5:5 + p[4]] if p[1] == 0xA4 else b""
        assert sm.wrap(p[0], p[1], p[2], p[3], body, le) == h(protected)
        out, sw = sm.unwrap(h(response))
        assert (out.hex().upper(), sw) == (expect, 0x9000)
        data += out
    assert data == h(V.EF_COM)
    assert icao_lds.data_groups(data) == [1, 2]


def test_d4_altered_response_is_refused_and_closes_the_channel() -> None:
    sm = SecureChannel(icao_bac.Session(h(V.KS_ENC), h(V.KS_MAC), int(V.SSC, 16)))
    plain, protected, response, _ = V.SM_STEPS[0]
    sm.wrap(0x00, 0xA4, 0x02, 0x0C, h("011E"))
    bad = bytearray(h(response))
    bad[3] ^= 0x01  # the status word inside DO'99'
    with pytest.raises(SecureMessagingError, match="MAC does not verify"):
        sm.unwrap(bytes(bad))
    assert isinstance(SecureMessagingError("x"), TornRead)
    with pytest.raises(SecureMessagingError, match="closed"):
        sm.wrap(0x00, 0xB0, 0, 0, le=4)


def test_retail_mac_and_padding_match_d3() -> None:
    mac = icao_crypto.retail_mac(h(V.K_MAC), icao_crypto.pad(h(V.CMD_DATA[:64])))
    assert mac.hex().upper() == V.CMD_DATA[64:]
    assert icao_crypto.unpad(icao_crypto.pad(b"abc")) == b"abc"
    with pytest.raises(ValueError, match="0x80"):
        icao_crypto.unpad(bytes(8))


@pytest.mark.parametrize("text, fields", [
    (V.TD3_SPECIMEN, ("P", "L898902C", "ERIKSSON", "ANNA MARIA", "UTO", "690806", "F", "940623")),
    (V.TD1_SPECIMEN, ("I", "D23145890", "ERIKSSON", "ANNA MARIA", "UTO", "740812", "F", "120415")),
])
def test_mrz_formats(text: str, fields: tuple[str, ...]) -> None:
    m = icao_mrz.parse_mrz(text)
    assert (m.document_code, m.document_number, m.surname, m.given_names, m.nationality,
            m.birth_date, m.sex, m.expiry_date) == fields
    assert m.check_digits_ok


def test_mrz_with_a_wrong_check_digit_is_flagged() -> None:
    bad = V.TD3_SPECIMEN[:44 + 9] + "4" + V.TD3_SPECIMEN[44 + 10:]
    assert not icao_mrz.parse_mrz(bad).check_digits_ok


@pytest.mark.parametrize("doc, birth, expiry, message", [
    ("", "690806", "940623", "document number: empty"),
    ("L89-902C", "690806", "940623", "document number"),
    ("L898902C", "6908", "940623", "birth date: '6908' is not a date"),
    ("L898902C", "691306", "940623", "birth date: '691306' has no month 13"),
    ("L898902C", "690806", "94O623", "expiry date"),
])
def test_typed_mrz_fields_are_checked(doc: str, birth: str, expiry: str, message: str) -> None:
    with pytest.raises(icao_mrz.MrzError, match=message):
        icao_mrz.MrzKey.parse(doc, birth, expiry)


def test_mrz_of_the_wrong_length_names_the_lengths() -> None:
    with pytest.raises(icao_mrz.MrzError, match="expected 90 .TD1., 72 .TD2. or 88 .TD3."):
        icao_mrz.parse_mrz(V.TD3_SPECIMEN[:80])


def _dg2(image: bytes, image_type: int) -> bytes:
    info = bytes([0, image_type]) + (24).to_bytes(2, "big") + (32).to_bytes(2, "big") + bytes(6)
    length = 32 + len(image)
    record = b"FAC\x00010\x00" + (14 + length).to_bytes(4, "big") + (1).to_bytes(2, "big")
    record += length.to_bytes(4, "big") + bytes(16) + info + image

    def tlv(tag: bytes, value: bytes) -> bytes:
        n = len(value)
        ln = bytes([n]) if n < 0x80 else (bytes([0x81, n]) if n < 0x100 else b"\x82" + n.to_bytes(2, "big"))
        return tag + ln + value

    inner = tlv(b"\x02", b"\x01") + tlv(b"\x7f\x60", tlv(b"\xa1", h("87020101")) + tlv(b"\x5f\x2e", record))
    return tlv(b"\x75", tlv(b"\x7f\x61", inner))


def test_dg2_face_image_is_found_by_its_content() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(300) + b"\xff\xd9"
    photo = icao_lds.dg2_face(_dg2(jpeg, 0))
    assert (photo.mime, photo.data, photo.width, photo.height) == ("image/jpeg", jpeg, 24, 32)
    assert "data" not in repr(photo) and "\\xff" not in repr(photo)  # never in a log line
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40)
    assert icao_lds.dg2_face(_dg2(jp2, 1)).mime == "image/jp2"


@pytest.mark.parametrize("data, message", [
    (b"\x75\x10\x7f\x61", "claims 16 bytes"),
    (b"\x61\x03\x5f\x1f\x00", "DG2: expected tag 75"),
    (b"\x75\x82\x01", "length field"),
])
def test_malformed_dg2_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(BadCardData, match=message):
        icao_lds.dg2_face(data)


def test_dg2_with_something_else_than_a_picture_is_refused() -> None:
    with pytest.raises(BadCardData, match="neither JPEG nor JPEG 2000"):
        icao_lds.dg2_face(_dg2(b"GIF89a" + bytes(20), 0))


def _doc(mrz: str) -> IdDocument:
    return IdDocument(icao_mrz.parse_mrz(mrz), [1])


def test_form_prefill_from_the_chip() -> None:
    seen: list[icao_mrz.MrzKey] = []

    def read(key: icao_mrz.MrzKey) -> IdDocument:
        seen.append(key)
        return _doc(V.TD1_SPECIMEN)

    r = read_for_form(read, "D23145890", "740812", "120415", today=dt.date(2026, 12, 3))
    assert isinstance(r, CardPrefill) and not r.confirmed
    assert seen == [icao_mrz.MrzKey("D23145890", "740812", "120415")]
    assert r.fields["full_name"] == "ANNA MARIA ERIKSSON"
    assert (r.fields["birth_date"], r.fields["expiry_date"]) == ("1974-08-12", "2012-04-15")
    assert (r.fields["document_number"], r.fields["nationality"], r.fields["sex"]) == ("D23145890", "UTO", "F")


def test_id_card_personal_number_becomes_the_national_id() -> None:
    from kiosk.devices.icao_mrz import check_digit as cd

    l1 = "I<IRQA12345678" + cd("A12345678") + "199001234567<<<"
    l2 = "850115" + cd("850115") + "M" + "301231" + cd("301231") + "IRQ" + "<" * 11
    l2 += cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    doc = _doc(l1 + l2 + "AL<RASHID<<AHMED<ALI".ljust(30, "<"))
    assert doc.mrz.check_digits_ok
    r = read_for_form(lambda key: doc, "A12345678", "850115", "301231", today=dt.date(2026, 12, 3))
    assert isinstance(r, CardPrefill)
    assert (r.fields["national_id"], r.fields["full_name"], r.fields["birth_date"]) == (
        "199001234567", "AHMED ALI AL RASHID", "1985-01-15")


@pytest.mark.parametrize("error, reason, retry", [
    (BacFailed("refused"), "card.wrong_mrz", True),
    (NoCard("no card"), "card.no_card", False),
    (TornRead("removed"), "card.torn_read", False),
])
def test_form_falls_back_to_typing(error: Exception, reason: str, retry: bool) -> None:
    def read(key: icao_mrz.MrzKey) -> IdDocument:
        raise error

    r = read_for_form(read, "L898902C", "690806", "940623")
    assert isinstance(r, CardFallback)
    assert (r.reason, r.retry_mrz, r.message) == (reason, retry, str(error))


def test_form_refuses_mistyped_fields_before_touching_the_card() -> None:
    def read(key: icao_mrz.MrzKey) -> IdDocument:
        raise AssertionError("the card must not be asked with a malformed key")

    r = read_for_form(read, "L898902C", "19690806", "940623")
    assert isinstance(r, CardFallback) and r.reason == "card.bad_input" and "birth date" in r.message


def test_reader_dialogue_stops_on_refused_bac() -> None:
    """The dialogue's own handling of a 6300 answer to EXTERNAL AUTHENTICATE."""
    d = read_document(specimen_key(), random=lambda n: bytes(n))
    assert d.send(None) == h("00A4040C07A0000002471001")
    assert d.send(h("9000")) == icao_bac.GET_CHALLENGE
    assert d.send(h(V.RND_ICC + "9000"))[:5] == h("0082000028")
    with pytest.raises(BacFailed, match="status 6300"):
        d.send(h("6300"))


def test_reader_dialogue_names_a_card_without_the_icao_application_or_bac() -> None:
    from kiosk.devices.card_errors import NotAnEmrtd

    d = read_document(specimen_key())
    d.send(None)
    with pytest.raises(NotAnEmrtd, match="no ICAO 9303 travel-document application .status 6A82."):
        d.send(h("6A82"))
    d = read_document(specimen_key())
    d.send(None)
    d.send(h("9000"))
    with pytest.raises(NotAnEmrtd, match="PACE-only card"):
        d.send(h("6982"))
