"""Device profiles (TOML data files, one per model) and the kiosk's device map.

Profiles are what a technician applies: serial framing, paper width, code
page, QR and cutter support, scanner prefixes/suffixes, terminal password,
plus the settings pushed into device firmware. They are data, validated with
pydantic on load; every error names the file, the field and the reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from contract import input_limits
from contract.errors import UrError, ValidationError
from firmware_config import capabilities as caps

PROFILE_DIR = Path(__file__).with_name("profiles")
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)


# pydantic checks stop bits against the three values a UART has; PEP 586 allows no
# float in a Literal, so a type checker sees the plain float that pyserial takes.
if TYPE_CHECKING:
    StopBits = float
else:
    StopBits = Literal[1, 1.5, 2]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SerialSettings(_Strict):
    port: str = ""
    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: StopBits = 1
    flow_control: Literal["none", "rtscts", "xonxoff", "dsrdtr"] = "none"

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v: int) -> int:
        if v not in BAUDRATES:
            raise ValueError(f"must be one of {', '.join(map(str, BAUDRATES))}")
        return v

    def pyserial(self) -> dict[str, Any]:
        return dict(baudrate=self.baudrate, bytesize=self.bytesize, parity=self.parity,
                    stopbits=self.stopbits, rtscts=self.flow_control == "rtscts",
                    xonxoff=self.flow_control == "xonxoff")


class FirmwareCommand(_Strict):
    name: str
    hex: str

    @field_validator("hex")
    @classmethod
    def _hex(cls, v: str) -> str:
        try:
            b = bytes.fromhex(v)
        except ValueError:
            raise ValueError("must be hexadecimal bytes, e.g. '1b 74 10'") from None
        if not b:
            raise ValueError("must not be empty")
        return v

    def data(self) -> bytes:
        return bytes.fromhex(self.hex)


class PrinterSettings(_Strict):
    paper_width_dots: int | None = Field(default=None, ge=96, le=1024)
    code_page: int | None = Field(default=None, ge=0, le=255)
    native_qr: bool | None = None
    cutter: bool | None = None
    status: bool = True
    qr_module_dots: int = Field(default=6, ge=2, le=16)
    # How Arabic lines print: "bitmap" (shaped by Pillow/raqm: exact, the default),
    # "code_page" (CP864 text: much fewer bytes; the model must list CP864), "auto"
    # (CP864 when the capability database lists it for the model, else bitmap).
    # Lines CP864 cannot print (Kurdish letters) are bitmaps in every mode.
    arabic: Literal["auto", "code_page", "bitmap"] = "bitmap"


def arabic_code_page(setting: str, code_pages: dict[int, str]) -> int | None:
    """The ESC t number Arabic lines print in, or None for shaped bitmaps."""
    if setting == "bitmap":
        return None
    return next((n for n, name in sorted(code_pages.items()) if name.upper() == "CP864"), None)


class PrinterFirmware(_Strict):
    commands: list[FirmwareCommand] = []


class PrinterConnection(_Strict):
    """How the printer is reached: a serial port ([serial] table), the kernel's USB
    printer class (usblp: a device file such as /dev/usb/lp0, written like a file),
    or the network (raw TCP, port 9100, status queries on the same socket)."""

    transport: Literal["serial", "usb", "tcp"] = "serial"
    device: str = ""  # usb: e.g. /dev/usb/lp0
    host: str = ""  # tcp
    port: int = Field(default=9100, ge=1, le=65535)  # tcp

    @model_validator(mode="after")
    def _complete(self) -> PrinterConnection:
        if self.transport == "usb" and not self.device:
            raise ValueError("connection.device: missing (e.g. /dev/usb/lp0) for transport = 'usb'")
        if self.transport == "tcp" and not self.host:
            raise ValueError("connection.host: missing for transport = 'tcp'")
        return self

    def port_url(self) -> str:
        """'' for serial (the [serial] port applies), usb:PATH, or tcp://host:port."""
        if self.transport == "usb":
            return f"usb:{self.device}"
        if self.transport == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return ""


class PrinterProfile(_Strict):
    model: str
    kind: Literal["printer"]
    description: str = ""
    capability_model: str
    serial: SerialSettings = SerialSettings()
    connection: PrinterConnection = PrinterConnection()
    printer: PrinterSettings = PrinterSettings()
    firmware: PrinterFirmware = PrinterFirmware()

    @field_validator("capability_model")
    @classmethod
    def _known(cls, v: str) -> str:
        try:
            caps.capabilities(v)
        except UrError as e:
            raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _resolvable(self) -> PrinterProfile:
        r = self.resolved()
        if not r["paper_width_dots"]:
            raise ValueError(f"capability model {self.capability_model!r} has no paper width: "
                             "set printer.paper_width_dots")
        cp = r["code_page"]
        if cp is not None and cp not in r["code_pages"]:
            raise ValueError(f"printer.code_page {cp} is not a code page of "
                             f"{self.capability_model}")
        if self.printer.arabic == "code_page" and r["arabic_code_page"] is None:
            raise ValueError(f"printer.arabic = 'code_page' but {self.capability_model} lists no "
                             "CP864 (the Arabic code page with joined letter forms): use 'bitmap'")
        return self

    def resolved(self) -> dict[str, Any]:
        """Capability database values, overridden by this profile's [printer] table."""
        s = caps.summary(self.capability_model)
        p = self.printer
        return {
            "paper_width_dots": p.paper_width_dots or s["paper_width_dots"],
            "native_qr": s["native_qr"] if p.native_qr is None else p.native_qr,
            "cutter": s["cutter"] if p.cutter is None else p.cutter,
            "code_page": p.code_page,
            "code_pages": s["code_pages"],
            "status": p.status,
            "qr_module_dots": p.qr_module_dots,
            "arabic_code_page": arabic_code_page(p.arabic, s["code_pages"]),
            "capability_model": self.capability_model,
            "vendor": s["vendor"],
        }


class ScannerSettings(_Strict):
    interface: Literal["serial", "camera"] = "serial"
    terminator: Literal["cr", "lf", "crlf"] = "cr"
    stx: bool = False
    aim: bool = True
    prefix: str = ""
    dialect: Literal["honeywell", "zebra", "none"] = "none"
    max_line: int = Field(default=8192, ge=16, le=1 << 20)


class CameraSettings(_Strict):
    device: int | str = 0
    max_fps: float = Field(default=10.0, gt=0, le=60)
    max_width: int = Field(default=640, ge=160, le=3840)


class ScannerFirmware(_Strict):
    honeywell_commands: list[str] = []
    ssi_params: dict[str, int] = {}

    @field_validator("honeywell_commands")
    @classmethod
    def _menu(cls, v: list[str]) -> list[str]:
        for c in v:
            if not c or not c.isascii() or not c.isalnum():
                raise ValueError(f"menu command {c!r} must be ASCII letters and digits")
        return v

    @field_validator("ssi_params")
    @classmethod
    def _ssi(cls, v: dict[str, int]) -> dict[str, int]:
        for k, val in v.items():
            if not k.isdigit() or not 0 <= int(k) < 0xF0 or not 0 <= val <= 255:
                raise ValueError(f"SSI parameter {k}={val}: number 0..239, value 0..255")
        return v


class ScannerProfile(_Strict):
    model: str
    kind: Literal["scanner"]
    description: str = ""
    serial: SerialSettings = SerialSettings()
    scanner: ScannerSettings = ScannerSettings()
    camera: CameraSettings = CameraSettings()
    firmware: ScannerFirmware = ScannerFirmware()

    @model_validator(mode="after")
    def _dialect_matches(self) -> ScannerProfile:
        fw = self.firmware
        if fw.honeywell_commands and self.scanner.dialect != "honeywell":
            raise ValueError("firmware.honeywell_commands need scanner.dialect = 'honeywell'")
        if fw.ssi_params and self.scanner.dialect != "zebra":
            raise ValueError("firmware.ssi_params need scanner.dialect = 'zebra'")
        return self


class TerminalSettings(_Strict):
    # serial: a device path (or socket:// / rfc2217:// for a serial server);
    # tcp: ZVT over TCP/IP with bare APDUs, `host` and a port number (20007).
    transport: Literal["serial", "tcp"] = "serial"
    host: str = ""
    port: str | int = ""
    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: StopBits = 2
    password: str = "000000"
    currency: int = Field(default=368, ge=1, le=999)
    exponent: int = Field(default=0, ge=0, le=3)
    timeout_s: float = Field(default=180.0, gt=0, le=600)
    # How long the citizen has to present the card before the payment is aborted at the
    # terminal (a countdown on screen); 0 = the terminal's own timeout decides.
    card_wait_s: float = Field(default=60.0, ge=0, le=600)

    @field_validator("password", mode="before")
    @classmethod
    def _password(cls, v: Any) -> str:
        s = str(v)
        if len(s) != 6 or not s.isdigit():
            raise ValueError("must be exactly 6 digits (ZVT password)")
        return s

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v: int) -> int:
        if v not in BAUDRATES:
            raise ValueError(f"must be one of {', '.join(map(str, BAUDRATES))}")
        return v

    @model_validator(mode="after")
    def _transport(self) -> TerminalSettings:
        if self.transport == "tcp":
            if not self.host:
                raise ValueError("host: missing for transport = 'tcp' (the terminal's address)")
            if self.port == "":
                self.port = 20007
            if not isinstance(self.port, int) or not 0 < self.port < 65536:
                raise ValueError(f"port: a TCP port number 1..65535 for transport = 'tcp', got {self.port!r}")
        elif isinstance(self.port, int):
            raise ValueError("port: a device path for a serial terminal (a number is for transport = 'tcp')")
        return self

    def port_url(self) -> str:
        if self.transport == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return str(self.port)


class TerminalProfile(_Strict):
    model: str
    kind: Literal["terminal"]
    description: str = ""
    terminal: TerminalSettings


class CardReaderSettings(_Strict):
    # Which PC/SC reader (pcscd's name for it, matched as a substring, case-insensitive);
    # empty: the first reader pcscd lists.
    reader: str = ""
    # ICAO 9303 documents: read DG2 (the face image) to show on screen (never stored).
    read_photo: bool = True


class CardReaderProfile(_Strict):
    """A PC/SC smart-card reader (contact or contactless) for the citizen's ID card."""

    model: str
    kind: Literal["card_reader"]
    description: str = ""
    card_reader: CardReaderSettings = CardReaderSettings()


AnyProfile = PrinterProfile | ScannerProfile | TerminalProfile | CardReaderProfile
Profile = Annotated[AnyProfile, Field(discriminator="kind")]
_PROFILE = TypeAdapter(Profile)


class DeviceEntry(_Strict):
    profile: str
    port: str = ""
    enabled: bool = True


class DeviceMap(_Strict):
    kiosk: str = ""
    devices: dict[str, DeviceEntry]


def _problems(e: PydanticError, drop_tag: bool = False) -> list[str]:
    """One 'field.path: reason' per error (the union tag, e.g. 'printer', dropped)."""
    out = []
    for err in e.errors():
        loc = list(err["loc"])[1 if drop_tag else 0:]
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{'.'.join(str(x) for x in loc) or '(top)'}: {msg}")
    return out


MAX_TOML_BYTES = 1024 * 1024  # profiles and device maps are a few kB


def _read_toml(path: Path) -> dict[str, Any]:
    """Size and nesting are capped before tomllib (which recurses per level) sees the file."""
    data = input_limits.read_capped(path, MAX_TOML_BYTES, "config file")
    try:
        text = data.decode("utf-8")
        input_limits.check_toml(text, str(path))
        return tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise ValidationError(f"{path}: not UTF-8 text", [str(e)]) from None
    except tomllib.TOMLDecodeError as e:
        raise ValidationError(f"{path}: not valid TOML", [str(e)]) from None


def parse_profile(raw: dict[str, Any], source: str = "profile") -> AnyProfile:
    if raw.get("kind") not in ("printer", "scanner", "terminal", "card_reader"):
        raise ValidationError(f"{source} is not a valid device profile",
                              ["kind: must be 'printer', 'scanner', 'terminal' or 'card_reader', "
                               f"got {raw.get('kind')!r}"])
    try:
        return _PROFILE.validate_python(raw)
    except PydanticError as e:
        raise ValidationError(f"{source} is not a valid device profile",
                              _problems(e, drop_tag=True)) from None


def profile_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    return PROFILE_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str | Path) -> AnyProfile:
    """A profile by name (firmware_config/profiles/NAME.toml) or by path."""
    path = profile_path(name_or_path)
    return parse_profile(_read_toml(path), str(path))


def list_profiles() -> dict[str, str]:
    """Profile name -> kind, for every shipped profile that loads."""
    out: dict[str, str] = {}
    for p in sorted(PROFILE_DIR.glob("*.toml")):
        try:
            out[p.stem] = load_profile(p).kind
        except UrError as e:
            out[p.stem] = f"INVALID: {e}"
    return out


def parse_device_map(raw: dict[str, Any], source: str = "device map",
                     base: Path | None = None) -> DeviceMap:
    try:
        dm = DeviceMap.model_validate(raw)
    except PydanticError as e:
        raise ValidationError(f"{source} is not a valid device map", _problems(e)) from None
    problems = []
    for name, entry in dm.devices.items():
        path = profile_path(entry.profile)
        if not path.exists() and base is not None and (base / entry.profile).exists():
            entry.profile = str(base / entry.profile)
        try:
            prof = load_profile(entry.profile)
        except UrError as e:
            problems.append(f"devices.{name}.profile: {e}")
            continue
        needs_port = not ((isinstance(prof, ScannerProfile) and prof.scanner.interface == "camera")
                          or isinstance(prof, CardReaderProfile))  # no name: pcscd's first reader
        if entry.enabled and needs_port and not (entry.port or _profile_port(prof)):
            problems.append(f"devices.{name}.port: missing (and the profile names no port)")
    if problems:
        raise ValidationError(f"{source} is not a valid device map", problems)
    return dm


def _profile_port(p: AnyProfile) -> str:
    if isinstance(p, CardReaderProfile):
        return p.card_reader.reader
    if isinstance(p, TerminalProfile):
        return p.terminal.port_url()
    if isinstance(p, PrinterProfile) and p.connection.transport != "serial":
        return p.connection.port_url()
    return p.serial.port


def load_device_map(path: str | Path) -> DeviceMap:
    p = Path(path)
    return parse_device_map(_read_toml(p), str(p), p.parent)


def validate_file(path: str | Path) -> dict[str, Any]:
    """`ur-kiosk config validate`: a profile or a device map, whichever the file is."""
    p = Path(path)
    raw = _read_toml(p)
    if "devices" in raw:
        dm = parse_device_map(raw, str(p), p.parent)
        return {"file": str(p), "type": "device_map", "devices": sorted(dm.devices)}
    prof = parse_profile(raw, str(p))
    out: dict[str, Any] = {"file": str(p), "type": "profile", "kind": prof.kind,
                           "model": prof.model}
    if isinstance(prof, PrinterProfile):
        r = prof.resolved()
        out.update({k: r[k] for k in ("paper_width_dots", "native_qr", "cutter",
                                      "capability_model")})
    return out


def device_port(entry: DeviceEntry, prof: AnyProfile) -> str:
    return entry.port or _profile_port(prof)


def profile_dict(prof: AnyProfile) -> dict[str, Any]:
    """The dict the device modules take (printers get their resolved capabilities)."""
    d = prof.model_dump()
    if isinstance(prof, PrinterProfile):
        d["printer"] = {**d["printer"], **{k: v for k, v in prof.resolved().items()
                                          if k != "code_pages"}}
    return d
