"""vsmartcard's ePass emulator (Debian vsmartcard-vpicc, `vicc --type ePass`) as the
independent ICAO 9303 chip for tests: run as a script by Debian's /usr/bin/python3,
it connects to vpcd inside pcscd and answers BAC and secure messaging with vicc's
own code (virtualsmartcard.cards.ePass, SEutils, CryptoUtils).

Why not `vicc --type ePass` as it is: Debian 12 ships vicc 0.8 whose ePass path
never ran under Python 3 (it asks for the MRZ with raw_input and mixes str and
bytes). This script copies the installed package into a temporary directory and
applies the smallest str->bytes fixes below, each asserted against the shipped
text, so that an upgrade that changes them fails loudly instead of silently
testing something else. No protocol or cipher logic is replaced: the key
derivation, mutual authentication, MAC and encryption are vicc's. The chip's
files (EF.COM, DG1, DG2) are laid out as vicc's CardGenerator does, from the MRZ
and photo given on the command line, with DG2 inside its ICAO tag 75 (vicc
omits it).

Usage: icao_vicc_card.py MRZ PHOTO_OR_EMPTY VPCD_PORT
(Cryptodome is Debian's python3-pycryptodome; vicc imports it as Crypto.)
"""

import logging
import os
import shutil
import sys
import tempfile

SHIPPED = "/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard"

PY3_FIXES = [
    # Python 2 leftovers on the ePass path: str literals where bytes flow.
    ("TLVutils.py", 'return b"".join(result)', "return result"),
    ("SEutils.py", 'return_data = ["", ]', 'return_data = [b"", ]'),
    ("SEutils.py", "padding_indicator = stringtoint(value[0])", "padding_indicator = value[0]"),
    ("SEutils.py", 'data="".join(return_data))', 'data=b"".join(return_data))'),
    ("SEutils.py", '        return_data = ""\n        # if sw == SW["NORMAL"]:',
     '        return_data = b""\n        # if sw == SW["NORMAL"]:'),
    ("SEutils.py", 'if result != "":  # Encrypt', 'if result not in ("", b""):  # Encrypt'),
    ("SEutils.py", 'encrypted = "\\x01" + encrypted', 'encrypted = b"\\x01" + encrypted'),
    ("CryptoUtils.py", "result.append(chr(op(ord(string1[i]), ord(string2[i]))))",
     "result.append(op(string1[i], string2[i]))"),
    ("CryptoUtils.py", '    return "".join(result)\n\n\n# ****', "    return bytes(result)\n\n\n# ****"),
    # The send sequence counter is 8 bytes even when its first byte is 0 (inttostring
    # without a length drops leading zero bytes: a wrong MAC in 1 of 256 sessions).
    ("CryptoUtils.py", "data = inttostring(ssc) + data", "data = inttostring(ssc, 8) + data"),
]


def patched_package() -> str:
    root = tempfile.mkdtemp(prefix="vicc-")
    dst = os.path.join(root, "virtualsmartcard")
    shutil.copytree(SHIPPED, dst)
    for name, old, new in PY3_FIXES:
        path = os.path.join(dst, name)
        with open(path) as f:
            text = f.read()
        if old not in text:
            sys.exit(f"vicc changed: {name} no longer contains {old!r}; review PY3_FIXES")
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))
    return root


def main() -> None:
    mrz = sys.argv[1].encode("ascii")
    photo_path = sys.argv[2]
    port = int(sys.argv[3])
    sys.path.insert(0, patched_package())
    import Cryptodome
    import Cryptodome.Cipher
    import Cryptodome.Hash
    import Cryptodome.Hash.MD5
    import Cryptodome.Hash.SHA1
    sys.modules["Crypto"] = Cryptodome
    sys.modules["Crypto.Cipher"] = Cryptodome.Cipher
    sys.modules["Crypto.Hash"] = Cryptodome.Hash
    Cryptodome.Hash.SHA = Cryptodome.Hash.SHA1
    sys.modules["Crypto.Hash.SHA"] = Cryptodome.Hash.SHA1

    from virtualsmartcard import CardGenerator
    from virtualsmartcard.SmartcardFilesystem import DF, MF, TransparentStructureEF
    from virtualsmartcard.TLVutils import pack
    from virtualsmartcard.utils import inttostring
    from virtualsmartcard.VirtualSmartcard import VirtualICC

    photo = open(photo_path, "rb").read() if photo_path else None

    def generate_epass(self):  # CardGenerator.__generate_ePass without raw_input
        from virtualsmartcard.cards.ePass import PassportSAM

        mf = MF()
        df = DF(parent=mf, fid=4, dfname=b"\xa0\x00\x00\x02G\x10\x01", bertlv_data=[])
        tags = b"\x61\x75" if photo is not None else b"\x61"
        com = pack([(0x5F01, 4, b"0107"), (0x5F36, 6, b"040000"), (0x5C, len(tags), tags)])
        com = pack(((0x60, len(com), com),))
        df.append(TransparentStructureEF(parent=df, fid=0x011E, filedescriptor=0, data=com))
        dg1 = pack([(0x5F1F, len(mrz), mrz)])
        dg1 = pack([(0x61, len(dg1), dg1)])
        df.append(TransparentStructureEF(parent=df, fid=0x0101, filedescriptor=0, data=dg1))
        dg2 = b""
        if photo is not None:
            iib = b"\x00\x00" + inttostring(0, 2) + inttostring(0, 2) + 6 * b"\x00"
            length = 32 + len(photo)
            fib = inttostring(length, 4) + 16 * b"\x00"
            frh = b"FAC\x00010\x00" + inttostring(14 + length, 4) + inttostring(1, 2)
            bdb = frh + fib + iib + photo
            dg2 = pack([(0xA1, 8, b"\x87\x02\x01\x01\x88\x02\x05\x01"), (0x5F2E, len(bdb), bdb)])
            dg2 = pack([(0x02, 1, b"\x01"), (0x7F60, len(dg2), dg2)])
            dg2 = pack([(0x7F61, len(dg2), dg2)])
            dg2 = pack([(0x75, len(dg2), dg2)])
        df.append(TransparentStructureEF(parent=df, fid=0x0102, filedescriptor=0, data=dg2))
        df.append(TransparentStructureEF(parent=df, fid=0x010D, filedescriptor=0, data=b""))
        mf.append(df)
        self.mf = mf
        self.sam = PassportSAM(self.mf)

    CardGenerator.CardGenerator._CardGenerator__generate_ePass = generate_epass
    level = logging.DEBUG if os.environ.get("UR_VICC_DEBUG") else logging.WARNING
    vicc = VirtualICC(None, "ePass", "localhost", port, logginglevel=level)
    print("vicc: card ready", flush=True)
    vicc.run()


if __name__ == "__main__":
    main()
