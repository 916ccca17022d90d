"""The harness itself: a broker really starts, survives SIGKILL with its data, a pty really carries bytes."""

from __future__ import annotations

import os
from pathlib import Path

import paho.mqtt.client as mqtt
import serial

from tests import support


def test_broker_start_kill_restart_keeps_port(tmp_path: Path) -> None:
    b = support.Broker(tmp_path / "b").start()
    port = b.port
    b.kill()
    b.start()
    assert b.port == port
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", b.port)
    c.disconnect()
    b.stop()


def test_pty_pair_carries_bytes(pty: support.PtyPair) -> None:
    port = serial.serial_for_url(pty.device, baudrate=115200, timeout=1)
    port.write(b"\x10\x04\x01")
    port.flush()
    assert os.read(pty.fd, 3) == b"\x10\x04\x01"
    os.write(pty.fd, b"\x16")
    assert port.read(1) == b"\x16"
    port.close()
