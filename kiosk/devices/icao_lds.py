"""The chip's files (ICAO Doc 9303 Part 10, the Logical Data Structure): BER-TLV,
EF.COM, DG1 (the MRZ) and DG2 (the face image, ISO/IEC 19794-5 records).

Pure parsing of bytes already read; malformed data is an `LdsError` naming the
file and the problem. The face image is returned as bytes for the screen and
never written anywhere by this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.devices.card_errors import BadCardData
from kiosk.devices.icao_mrz import MrzData, MrzError, parse_mrz

AID_EMRTD = bytes.fromhex("A0000002471001")
FILE_IDS = {"COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "SOD": 0x011D}
# EF.COM lists data groups by their tags (Part 10, Table 35).
DG_TAGS = {0x61: 1, 0x75: 2, 0x63: 3, 0x76: 4, 0x65: 5, 0x66: 6, 0x67: 7, 0x68: 8, 0x69: 9,
           0x6A: 10, 0x6B: 11, 0x6C: 12, 0x6D: 13, 0x6E: 14, 0x6F: 15, 0x70: 16}


class LdsError(BadCardData):
    """A file from the chip that is not the structure ICAO 9303 Part 10 defines."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    children: list[Tlv] = field(default_factory=list)

    def find(self, tag: int) -> Tlv | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None


def _constructed(tag: int) -> bool:
    first = tag
    while first > 0xFF:
        first >>= 8
    return bool(first & 0x20)


def read_header(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    """(tag, length, offset of the value) of the TLV at pos; raises LdsError if cut short."""
    if pos >= len(buf):
        raise LdsError("data ends where a tag should start")
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while True:
            if pos >= len(buf):
                raise LdsError("data ends inside a tag")
            tag = (tag << 8) | buf[pos]
            pos += 1
            if not buf[pos - 1] & 0x80:
                break
    if pos >= len(buf):
        raise LdsError(f"tag {tag:X} has no length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return tag, first, pos
    n = first & 0x7F
    if n == 0 or n > 3 or pos + n > len(buf):
        raise LdsError(f"tag {tag:X} has a length field we cannot read ({first:02X})")
    return tag, int.from_bytes(buf[pos:pos + n], "big"), pos + n


def parse_tlv(buf: bytes) -> list[Tlv]:
    out: list[Tlv] = []
    pos = 0
    while pos < len(buf):
        if buf[pos] in (0x00, 0xFF):  # padding between objects
            pos += 1
            continue
        tag, length, start = read_header(buf, pos)
        end = start + length
        if end > len(buf):
            raise LdsError(f"tag {tag:X} claims {length} bytes, only {len(buf) - start} present")
        value = buf[start:end]
        out.append(Tlv(tag, value, parse_tlv(value) if _constructed(tag) else []))
        pos = end
    return out


def _single(buf: bytes, tag: int, what: str) -> Tlv:
    objs = parse_tlv(buf)
    if not objs or objs[0].tag != tag:
        raise LdsError(f"{what}: expected tag {tag:X}, got {objs[0].tag:X}" if objs else f"{what}: empty")
    return objs[0]


def data_groups(ef_com: bytes) -> list[int]:
    """The data group numbers that EF.COM says the chip holds."""
    com = _single(ef_com, 0x60, "EF.COM")
    tags = com.find(0x5C)
    if tags is None:
        raise LdsError("EF.COM: no tag list (5C)")
    return sorted(DG_TAGS[t] for t in tags.value if t in DG_TAGS)


def dg1_mrz(dg1: bytes) -> MrzData:
    mrz = _single(dg1, 0x61, "DG1").find(0x5F1F)
    if mrz is None:
        raise LdsError("DG1: no MRZ data element (5F1F)")
    try:
        return parse_mrz(mrz.value.decode("ascii"))
    except UnicodeDecodeError:
        raise LdsError("DG1: the MRZ is not ASCII") from None
    except MrzError as e:
        raise LdsError(f"DG1: {e}") from None


@dataclass(frozen=True)
class FacePhoto:
    """The face image from DG2, for the screen only (repr hides the bytes)."""

    mime: str  # image/jpeg or image/jp2
    data: bytes = field(repr=False)
    width: int = 0
    height: int = 0


_JPEG = b"\xff\xd8\xff"
_JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K = b"\xff\x4f\xff\x51"


def _sniff(data: bytes) -> str | None:
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_JP2) or data.startswith(_J2K):
        return "image/jp2"
    return None


def _face_record(bdb: bytes) -> FacePhoto:
    """ISO/IEC 19794-5:2005 facial record: 14-byte header, a 20-byte facial information
    block, 8 bytes per feature point, a 12-byte image information block, the image."""
    if len(bdb) < 46 or bdb[:4] != b"FAC\x00":
        raise LdsError("DG2: the biometric data block is not an ISO/IEC 19794-5 face record")
    pos = 14
    feature_points = int.from_bytes(bdb[pos + 4:pos + 6], "big")
    pos += 20 + 8 * feature_points
    info = bdb[pos:pos + 12]
    if len(info) < 12:
        raise LdsError("DG2: face record cut short before the image")
    width, height = int.from_bytes(info[2:4], "big"), int.from_bytes(info[4:6], "big")
    image = bdb[pos + 12:]
    mime = _sniff(image) or {0: "image/jpeg", 1: "image/jp2"}.get(info[1])
    if not image or mime is None or _sniff(image) is None:
        raise LdsError("DG2: the face image is neither JPEG nor JPEG 2000")
    return FacePhoto(mime, image, width, height)


def dg2_face(dg2: bytes) -> FacePhoto:
    """The first face image of DG2 (tag 75 > 7F61 > 7F60 > 5F2E or 7F2E)."""
    group = _single(dg2, 0x75, "DG2").find(0x7F61)
    if group is None:
        raise LdsError("DG2: no biometric information group template (7F61)")
    for template in group.children:
        if template.tag != 0x7F60:
            continue
        for bdb_tag in (0x5F2E, 0x7F2E):
            bdb = template.find(bdb_tag)
            if bdb is not None:
                return _face_record(bdb.value)
    raise LdsError("DG2: no biometric data block (5F2E/7F2E)")
