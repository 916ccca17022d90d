"""The ECR (cash register) side of ZVT, sans-I/O: one command at a time.

The ECR is master: it sends a command, the terminal (PT) answers 80 00 00 (accepted)
or 84 xx (refused), then - for commands with a result - sends its messages (04 FF
intermediate status, 06 D1/D3 receipt lines, 04 0F status information) and ends with
06 0F (completion) or 06 1E (abort). The ECR answers each of those with 80 00 00.
While a command runs the ECR may send 06 B0 (abort); the terminal may accept or
refuse it, and only 06 0F/06 1E ends the command: an abort that was refused never
counts as a cancellation.

`EcrConnection` turns bytes into the events below and queues what must be written
(ACK bytes, 80 00 00 answers, repeats) for `data_to_send`. It raises
`ZvtProtocolError` when the caller breaks the rules (a second command while one runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kiosk.devices import zvt_apdu as ap
from kiosk.devices.zvt_frames import (
    ApduLink,
    FrameAcked,
    FrameCorrupt,
    FrameReceived,
    FrameResent,
    LinkEvent,
    LinkFailed,
    ZvtLink,
    ZvtProtocolError,
)


class State(Enum):
    IDLE = "idle"
    SENDING = "sending"  # command frame written, waiting for the ACK byte
    AWAIT_ACK = "await_ack"  # command delivered, waiting for 80 00 / 84 xx
    RUNNING = "running"  # accepted, waiting for 06 0F / 06 1E


# -- events -----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """The terminal ACKed the command frame: from now on it may act on it."""

    command: ap.Command


@dataclass(frozen=True)
class Undelivered:
    """The command frame was never ACKed (MAX_TRIES transmissions): nothing happened."""

    command: ap.Command
    why: str


@dataclass(frozen=True)
class Accepted:
    command: ap.Command


@dataclass(frozen=True)
class Refused:
    """84 xx: the terminal refused the command (e.g. A0 receiver not ready, 9C busy)."""

    command: ap.Command
    code: int


@dataclass(frozen=True)
class StatusInfo:
    info: ap.StatusInformation


@dataclass(frozen=True)
class Intermediate:
    code: int


@dataclass(frozen=True)
class Line:
    line: ap.PrintLine


@dataclass(frozen=True)
class TextBlock:
    block: ap.PrintTextBlock


@dataclass(frozen=True)
class Completed:
    command: ap.Command
    completion: ap.Completion


@dataclass(frozen=True)
class Aborted:
    """06 1E: the terminal ended the command without success."""

    command: ap.Command
    code: int
    fields: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True)
class AbortAnswered:
    """The terminal's answer to our 06 B0: accepted (80 00) or refused (84 xx)."""

    accepted: bool
    code: int = 0


@dataclass(frozen=True)
class Unsolicited:
    """A terminal message outside any command (acknowledged and reported)."""

    message: ap.Message


@dataclass(frozen=True)
class Garbled:
    """A damaged frame (NAKed: the terminal repeats it)."""

    reason: str


@dataclass(frozen=True)
class Undecodable:
    """An intact frame whose APDU we cannot read (answered 80 00 00 so the PT goes on)."""

    reason: str


@dataclass(frozen=True)
class Retrying:
    """We repeated a frame after a NAK or a missing ACK."""

    tries: int
    why: str


@dataclass(frozen=True)
class AnswerLost:
    """One of our 80 00 00 answers was not ACKed after MAX_TRIES transmissions."""

    why: str


EcrEvent = (
    Delivered | Undelivered | Accepted | Refused | StatusInfo | Intermediate | Line | TextBlock
    | Completed | Aborted | AbortAnswered | Unsolicited | Garbled | Undecodable | Retrying | AnswerLost
)

_ACK_APDU = ap.Ack().to_apdu().encode()


class EcrConnection:
    def __init__(self, link: ZvtLink | ApduLink | None = None) -> None:
        self.link: ZvtLink | ApduLink = link or ZvtLink()
        self.state = State.IDLE
        self.command: ap.Command | None = None
        self._command_apdu: bytes | None = None
        self._abort_apdu: bytes | None = None
        self._abort_sent = False

    # -- sending -----------------------------------------------------------------
    def send(self, command: ap.Command) -> list[EcrEvent]:
        """Start a command. Only one command runs at a time.

        On TCP (`ApduLink`) there is no ACK byte: the command counts as delivered
        once written, and `Delivered` comes back at once.
        """
        if self.state is not State.IDLE:
            raise ZvtProtocolError(
                f"cannot send {command.name}: {self.command.name if self.command else 'a command'} "
                f"is still {self.state.value}"
            )
        apdu = command.to_apdu().encode()
        self.command = command
        self._command_apdu = apdu
        self._abort_sent = False
        self.state = State.SENDING
        self.link.send_apdu(apdu)
        if isinstance(self.link, ApduLink):
            self.state = State.AWAIT_ACK
            return [Delivered(command)]
        return []

    def send_abort(self) -> bool:
        """Ask the terminal to abort the running command; False if nothing runs."""
        if self.state not in (State.AWAIT_ACK, State.RUNNING) or self._abort_sent:
            return False
        apdu = ap.abort().to_apdu().encode()
        self._abort_apdu = apdu
        self._abort_sent = True
        self.link.send_apdu(apdu)
        return True

    def data_to_send(self) -> bytes:
        return self.link.data_to_send()

    @property
    def awaiting_ack(self) -> bool:
        return self.link.awaiting_ack

    def reset(self) -> None:
        """Give up on the current command (after a timeout) and start clean."""
        self.link.reset()
        self.state = State.IDLE
        self.command = None
        self._command_apdu = None
        self._abort_sent = False

    # -- receiving ---------------------------------------------------------------
    def ack_timeout(self) -> list[EcrEvent]:
        return self._link_events(self.link.ack_timeout())

    def receive_data(self, data: bytes) -> list[EcrEvent]:
        return self._link_events(self.link.receive_data(data))

    def _link_events(self, link_events: list[LinkEvent]) -> list[EcrEvent]:
        out: list[EcrEvent] = []
        for ev in link_events:
            if isinstance(ev, FrameAcked):
                if ev.apdu == self._command_apdu and self.state is State.SENDING:
                    self.state = State.AWAIT_ACK
                    assert self.command is not None
                    out.append(Delivered(self.command))
            elif isinstance(ev, LinkFailed):
                if ev.apdu == self._command_apdu and self.state is State.SENDING:
                    assert self.command is not None
                    out.append(Undelivered(self.command, ev.why))
                    self.state = State.IDLE
                    self.command = None
                    self._command_apdu = None
                else:
                    out.append(AnswerLost(ev.why))
            elif isinstance(ev, FrameResent):
                out.append(Retrying(ev.tries, ev.why))
            elif isinstance(ev, FrameCorrupt):
                out.append(Garbled(ev.reason))
            elif isinstance(ev, FrameReceived):
                out.extend(self._on_apdu(ev.apdu))
        return out

    def _on_apdu(self, raw: bytes) -> list[EcrEvent]:
        try:
            msg = ap.decode_message_bytes(raw)
        except ZvtProtocolError as e:
            # The frame arrived intact but we cannot read it: answer so the terminal
            # is not stuck, and let the caller decide (the result stays unknown).
            self.link.send_apdu(_ACK_APDU)
            return [Undecodable(f"undecodable APDU {raw[:8].hex(' ')}...: {e}")]
        cmd = self.command
        if isinstance(msg, (ap.Ack, ap.Nack)):
            if self.state in (State.SENDING, State.AWAIT_ACK) and cmd is not None:
                # An 80/84 can overtake the ACK byte on a fast line: treat as delivered.
                if isinstance(msg, ap.Ack):
                    if cmd.command == ap.ABORT:
                        self._finish()  # a lone 06 B0 ends with its 80 00 00
                    else:
                        self.state = State.RUNNING
                    return [Accepted(cmd)]
                self._finish()
                return [Refused(cmd, msg.code)]
            if self.state is State.RUNNING and self._abort_sent:
                if isinstance(msg, ap.Ack):
                    return [AbortAnswered(True)]
                return [AbortAnswered(False, msg.code)]
            return [Unsolicited(msg)]
        if isinstance(msg, ap.Command):
            raise ZvtProtocolError(f"the terminal sent an ECR command ({msg.name})")
        # Everything else the terminal sends gets our 80 00 00.
        self.link.send_apdu(_ACK_APDU)
        if self.state not in (State.RUNNING, State.AWAIT_ACK) or cmd is None:
            return [Unsolicited(msg)]
        if self.state is State.AWAIT_ACK:
            self.state = State.RUNNING  # terminal skipped 80 00; its messages count
        if isinstance(msg, ap.StatusInformation):
            return [StatusInfo(msg)]
        if isinstance(msg, ap.IntermediateStatus):
            return [Intermediate(msg.code)]
        if isinstance(msg, ap.PrintLine):
            return [Line(msg)]
        if isinstance(msg, ap.PrintTextBlock):
            return [TextBlock(msg)]
        if isinstance(msg, ap.Completion):
            self._finish()
            return [Completed(cmd, msg)]
        if isinstance(msg, ap.TerminalAbort):
            self._finish()
            return [Aborted(cmd, msg.code, msg.fields)]
        return [Unsolicited(msg)]  # pragma: no cover - all message types handled above

    def _finish(self) -> None:
        self.state = State.IDLE
        self.command = None
        self._command_apdu = None
        self._abort_sent = False
