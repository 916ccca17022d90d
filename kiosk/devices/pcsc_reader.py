"""A thin PC/SC driver: the card readers pcscd knows, and a `transmit` function for the
card in one of them (pyscard over libpcsclite).

Everything protocol-level lives in the sans-I/O modules (icao_reader and friends);
this module only finds the reader, connects, moves bytes, and turns PC/SC's failures
into `CardReadError`s with a message: pcscd not running, no reader, no card, card
removed mid-read. T=0 cards' 61xx/6Cxx answers are handled here, as transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kiosk.devices.card_errors import NoCard, ReaderUnavailable, TornRead


def _pyscard() -> Any:
    # Inside the function: pyscard is optional (a kiosk without a card reader may lack it),
    # and its absence must be a clear ReaderUnavailable, not an ImportError at start-up.
    try:
        import smartcard.System
        from smartcard import Exceptions
        from smartcard.pcsc import PCSCExceptions
    except ImportError as e:
        raise ReaderUnavailable(f"card reader support not installed (pyscard: {e})") from None
    return smartcard.System, Exceptions, PCSCExceptions


def reader_names() -> list[str]:
    """Readers pcscd reports now; ReaderUnavailable when pcscd cannot be reached."""
    system, _exc, pcsc_exc = _pyscard()
    try:
        return [str(r) for r in system.readers()]
    except (pcsc_exc.EstablishContextException, pcsc_exc.ListReadersException) as e:
        raise ReaderUnavailable(f"the PC/SC service (pcscd) does not answer: {e}") from None


def _pick(readers: list[Any], match: str) -> Any:
    for r in readers:
        if match.lower() in str(r).lower():
            return r
    names = ", ".join(str(r) for r in readers) or "none"
    if not readers:
        raise ReaderUnavailable("no card reader is connected (pcscd lists none)")
    raise ReaderUnavailable(f"no card reader named like {match!r} (pcscd lists: {names})")


@contextmanager
def card(match: str = "") -> Iterator[Callable[[bytes], bytes]]:
    """Connect to the card in the first reader whose name contains `match` and yield
    transmit(apdu) -> response data + SW1 SW2. Disconnects on exit."""
    system, exc, pcsc_exc = _pyscard()
    try:
        readers = system.readers()
    except (pcsc_exc.EstablishContextException, pcsc_exc.ListReadersException) as e:
        raise ReaderUnavailable(f"the PC/SC service (pcscd) does not answer: {e}") from None
    reader = _pick(readers, match)
    conn = reader.createConnection()
    scard = _scard()
    try:
        # Exclusive: nobody else's APDU may land inside our secure-messaging session;
        # reset on disconnect: the chip forgets the session keys.
        conn.connect(mode=scard.SCARD_SHARE_EXCLUSIVE, disposition=scard.SCARD_RESET_CARD)
    except exc.NoCardException:
        raise NoCard(f"no card in the reader {reader}") from None
    except exc.CardConnectionException as e:
        if "sharing" in str(e).lower():
            raise ReaderUnavailable(f"the card in {reader} is in use by another program") from None
        raise NoCard(f"the card in {reader} does not answer: {e}") from None

    def transmit(apdu: bytes) -> bytes:
        try:
            data, sw1, sw2 = conn.transmit(list(apdu))
            if sw1 == 0x6C:  # T=0: wrong Le, the card says which
                data, sw1, sw2 = conn.transmit(list(apdu[:-1]) + [sw2])
            while sw1 == 0x61:  # T=0: more data waiting, GET RESPONSE
                more, sw1, sw2 = conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
                data = list(data) + list(more)
        except exc.CardConnectionException as e:
            raise TornRead(f"the card was removed or stopped answering: {e}") from None
        return bytes(data) + bytes([sw1, sw2])

    try:
        yield transmit
    finally:
        try:
            conn.disconnect()
        except exc.CardConnectionException:
            pass  # the card is gone already: nothing left to release


def _scard() -> Any:
    from smartcard import scard

    return scard


def card_present(match: str = "") -> bool:
    """True when the named reader holds a card. Asks pcscd for the reader's state and
    never connects, so a health check cannot disturb a read in progress."""
    names = reader_names()
    name = str(_pick(names, match))
    scard = _scard()
    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        raise ReaderUnavailable(f"the PC/SC service (pcscd) does not answer: {scard.SCardGetErrorMessage(rc)}")
    try:
        rc, states = scard.SCardGetStatusChange(ctx, 0, [(name, scard.SCARD_STATE_UNAWARE)])
        if rc not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise ReaderUnavailable(f"reader {name}: {scard.SCardGetErrorMessage(rc)}")
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)
