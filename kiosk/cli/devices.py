"""Technician commands: `ur-kiosk devices ...`, `ur-kiosk emulate ...`,
`ur-kiosk config validate ...`.

Every device kind is reached through `kiosk/devices/<kind>_device.py`
(emulate / test / diagnose); the terminal module is imported only when used,
so the other kinds work on a kiosk without card-terminal support.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from contract import cli_base
from contract.cli_base import arg, command, emit
from contract.errors import UrError
from firmware_config import profiles as fp
from kiosk import device_health
from kiosk.store import data_dir

KINDS = ("printer", "terminal", "scanner")


def _options(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise UrError(f"option {p!r} must look like key=value")
        out[k] = v
    return out


def default_map(args: argparse.Namespace) -> str | None:
    """The kiosk's own device map: DATA_DIR/devices.toml, when there is one."""
    p = data_dir(getattr(args, "data", None)) / "devices.toml"
    return str(p) if p.exists() else None


def _resolve(args: argparse.Namespace, kind: str | None) -> tuple[Any, dict[str, Any], str]:
    """(profile model, profile dict, port) from --map/--device or --profile/--port."""
    if getattr(args, "map", None) and getattr(args, "device", None):
        dm = fp.load_device_map(args.map)
        if args.device not in dm.devices:
            raise UrError(f"device map {args.map} has no device {args.device!r} "
                          f"(has: {', '.join(sorted(dm.devices))})")
        entry = dm.devices[args.device]
        prof = fp.load_profile(entry.profile)
        port = args.port or fp.device_port(entry, prof)
    elif args.profile:
        prof = fp.load_profile(args.profile)
        port = args.port or device_health.device_port_from_profile(prof)
    else:
        raise UrError("say which device: --profile NAME [--port PORT] or --map FILE --device NAME")
    if kind and prof.kind != kind:
        raise UrError(f"profile {prof.model!r} is a {prof.kind} profile, not a {kind} one")
    d = fp.profile_dict(prof)
    if getattr(args, "timeout", None) is not None:
        d["test_timeout_s"] = args.timeout
    return prof, d, port


def _result(args: argparse.Namespace, title: str, r: dict[str, Any]) -> int:
    lines = [f"{title}: {'OK' if r.get('ok') else 'FAILED'} ({r.get('state')})"]
    for k, v in (r.get("details") or {}).items():
        lines.append(f"  {k}: {v}")
    emit(args, r, "\n".join(lines))
    return 0 if r.get("ok") else 1


def cmd_list(args: argparse.Namespace) -> int:
    if not args.map and not args.profiles:
        args.map = default_map(args)
    if args.map:
        dm = fp.load_device_map(args.map)
        rows = []
        for name, e in sorted(dm.devices.items()):
            prof = fp.load_profile(e.profile)
            rows.append({"device": name, "kind": prof.kind, "profile": e.profile,
                         "model": prof.model, "port": fp.device_port(e, prof),
                         "enabled": e.enabled})
        text = "\n".join(f"{r['device']:<18} {r['kind']:<9} {r['model']:<32} {r['port']}"
                         + ("" if r["enabled"] else "  (disabled)") for r in rows)
        emit(args, rows, text or "(no devices)")
        return 0
    rows = []
    for name, kind in fp.list_profiles().items():
        model = ""
        if not kind.startswith("INVALID"):
            model = fp.load_profile(name).model
        rows.append({"profile": name, "kind": kind, "model": model})
    emit(args, rows, "\n".join(f"{r['profile']:<28} {r['kind']:<9} {r['model']}" for r in rows))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    prof, d, port = _resolve(args, args.kind)
    mod = device_health.device_module(args.kind)
    return _result(args, f"{args.kind} test on {port or '(camera)'}", mod.test(d, port))


def cmd_diagnose(args: argparse.Namespace) -> int:
    if not args.map and not args.profile:
        args.map = default_map(args)
        if not args.map:
            raise UrError("no device map: pass --map FILE (or put devices.toml in the data "
                          "directory), or --profile NAME --port PORT")
    if args.map and not args.device:
        rep = device_health.report(args.map)
        lines = [f"{name:<18} {r['state']:<22} {r.get('details', {}).get('message', '')}"
                 for name, r in rep.items()]
        emit(args, rep, "\n".join(lines) or "(no devices)")
        return 0 if all(r.get("ok") for r in rep.values()) else 1
    prof, d, port = _resolve(args, None)
    mod = device_health.device_module(prof.kind)
    return _result(args, f"{prof.kind} on {port or '(camera)'}", mod.diagnose(d, port))


def cmd_apply(args: argparse.Namespace) -> int:
    prof, d, port = _resolve(args, args.kind)
    mod = device_health.device_module(args.kind)
    if not hasattr(mod, "apply_settings"):
        raise UrError(f"{args.kind} support has no firmware settings to apply")
    return _result(args, f"{args.kind} settings on {port}", mod.apply_settings(d, port))


def cmd_emulate(args: argparse.Namespace) -> int:
    mod = device_health.device_module(args.kind)
    options = _options(args.option)
    if args.fault:
        options["fault"] = ",".join(args.fault)
    if args.out:
        options["out"] = args.out
    if args.stdin:
        options["stdin"] = "1"
    if args.tcp is not None:
        if args.kind not in ("terminal", "printer"):
            raise UrError("--tcp is for the terminal (ZVT/TCP) and printer (raw TCP) emulators")
        options["tcp"] = str(args.tcp)
    if args.journal:
        if args.kind != "terminal":
            raise UrError("--journal is for the terminal emulator only")
        options["journal"] = args.journal

    def ready(path: str) -> None:
        if getattr(args, "json", False):
            emit(args, {"kind": args.kind, "port": path})
        else:
            print(path)
        sys.stdout.flush()

    mod.emulate(options, ready)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    r = fp.validate_file(args.file)
    emit(args, r, f"{args.file}: valid {r['type'].replace('_', ' ')}"
         + (f" ({r['kind']}: {r['model']})" if r["type"] == "profile" else
            f" ({', '.join(r['devices'])})"))
    return 0


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="profile name (firmware_config/profiles) or TOML path")
    p.add_argument("--port", help="device path, tcp://host:port (ZVT/TCP terminal, network "
                                  "printer), usb:/dev/usb/lpN (USB printer class), socket:// or rfc2217://")
    p.add_argument("--map", help="device map TOML (with --device)")
    p.add_argument("--device", help="device name in the device map")


def add_commands(sub: cli_base.Subparsers) -> None:
    ds = cli_base.group(sub, "devices", "receipt printer, card terminal, QR scanner", dest="devices_command")

    command(ds, "list", cmd_list, "the kiosk's devices (device map), or shipped profiles",
            arg("--map", help="device map TOML (default: DATA_DIR/devices.toml)"),
            arg("--profiles", action="store_true", help="list the shipped profiles"))

    command(ds, "test", cmd_test, "test print / registration / scan test / ID card present",
            arg("kind", choices=(*KINDS, "card_reader")),
            _target,
            arg("--timeout", type=float, help="scanner: seconds to wait for a scan"))

    command(ds, "diagnose", cmd_diagnose, "state of every device (DATA_DIR/devices.toml or "
                                          "--map), or of one device",
            _target)

    command(ds, "apply-settings", cmd_apply, "push the profile's firmware settings",
            arg("kind", choices=("printer", "scanner")),
            _target)

    command(sub, "emulate", cmd_emulate, "run a device emulator on a pseudo-terminal",
            arg("kind", choices=KINDS),
            arg("--fault", action="append", help="fault knob (repeatable)"),
            arg("--out", help="printer: directory for receipt PNGs"),
            arg("--option", action="append", help="emulator option key=value (repeatable)"),
            arg("--stdin", action="store_true", help="read control lines on stdin"),
            arg("--journal", metavar="FILE", help="terminal: append its own journal to FILE (JSON lines)"),
            arg("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT instead of a pty (terminal: ZVT over TCP/IP, "
                                                        "bare APDUs; printer: raw TCP like port 9100); 0 = any free port"))

    cs = cli_base.group(sub, "config", "device profiles and device maps", dest="config_command")
    command(cs, "validate", cmd_validate, "check a profile or a device map TOML file", arg("file"))
