"""Byte traces of real ZVT terminals, from public sources (test data, not code).

Each APDU is as a terminal sent it (TCP framing: bare APDU), with where it was
published. The Portalum.Zvt project (MIT licence, github.com/Portalum/Portalum.Zvt)
publishes frames captured from real terminals as unit-test vectors; the ZVT
specification (PA00P015, "ECR-Interface ZVT-Protocol", chapter 2/3 message
examples) gives the short completion/abort forms.
"""

from __future__ import annotations

PORTALUM_STATUS = "Portalum.Zvt src/Portalum.Zvt.UnitTest/StatusInformationParserTest.cs"
PORTALUM_CLIENT = "Portalum.Zvt src/Portalum.Zvt.UnitTest/ZvtClientTest.cs"
PORTALUM_INTERMEDIATE = "Portalum.Zvt src/Portalum.Zvt.UnitTest/IntermediateStatusInformationParserTest.cs"
SPEC = "ZVT specification PA00P015, completion 06 0F / abort 06 1E layouts"


def _h(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", " "))


# (name, APDU bytes, source, what the frame must decode to)
TRACES: list[tuple[str, bytes, str, dict[str, object]]] = [
    ("status abort by customer",
     _h("04 0F 1E 27 6C 29 28 00 48 69 3C F0 F1 F9 41 62 62 72 75 63 68 20 64 75 72 63 68 20 4B 75 6E 64 65"),
     PORTALUM_STATUS + " Parse_AbortByKey",
     {"result_code": 0x6C, "terminal_id": "28004869", "additional_text": "Abbruch durch Kunde"}),
    ("status system error",
     _h("04 0F 18 27 FF 29 28 00 48 69 3C F0 F1 F3 42 65 74 72 61 67 20 66 61 6C 73 63 68"),
     PORTALUM_STATUS + " Parse_SystemError",
     {"result_code": 0xFF, "additional_text": "Betrag falsch"}),
    ("status approved Debit Mastercard EUR 20.40 (1)",
     _h("04 0F 77 27 00 04 00 00 00 00 20 40 0B 00 04 70 0C 22 39 53 0D 10 06 0E 25 12 17 00 01 19 70 "
        "22 F0 F8 EE EE EE EE EE EE 47 71 29 28 00 48 69 2A 31 30 30 34 36 31 37 36 33 20 20 20 20 20 20 "
        "3B 36 31 31 38 30 34 00 00 3C F0 F1 F4 47 45 4E 2E 4E 52 2E 3A 36 31 31 38 30 34 49 09 78 "
        "87 04 70 88 00 04 70 8A 2E 8B F1 F7 44 65 62 69 74 20 4D 61 73 74 65 72 63 61 72 64 00"),
     PORTALUM_STATUS + " Parse_PaymentGood1",
     {"result_code": 0, "amount": 2040, "currency": 978, "trace": 470, "receipt_no": 470,
      "turnover_no": 470, "card_seq_no": 1, "card_type": 0x2E, "card_name": "Debit Mastercard",
      "additional_text": "GEN.NR.:611804", "time": "223953", "expiry_seen": True}),
    ("status approved Debit Mastercard EUR 20.40 (2)",
     _h("04 0F 77 27 00 04 00 00 00 00 20 40 0B 00 04 63 0C 21 04 43 0D 10 06 0E 25 12 17 00 01 19 70 "
        "22 F0 F8 EE EE EE EE EE EE 47 71 29 28 00 48 69 2A 31 30 30 34 36 31 37 36 33 20 20 20 20 20 20 "
        "3B 39 37 38 35 33 39 00 00 3C F0 F1 F4 47 45 4E 2E 4E 52 2E 3A 39 37 38 35 33 39 49 09 78 "
        "87 04 63 88 00 04 63 8A 2E 8B F1 F7 44 65 62 69 74 20 4D 61 73 74 65 72 63 61 72 64 00"),
     PORTALUM_STATUS + " Parse_PaymentGood2",
     {"result_code": 0, "amount": 2040, "currency": 978, "additional_text": "GEN.NR.:978539"}),
    ("status approved contactless with TLV",
     _h("04-0F-65-27-00-0C-23-13-55-0D-10-29-0E-99-99-22-F0-F8-EE-EE-EE-EE-EE-EE-47-71-A0-01-29-00-00-00-"
        "06-87-00-08-0B-00-00-00-8A-06-8B-F1-F1-4D-41-53-54-45-52-43-41-52-44-00-06-2E-2F-08-1F-12-01-02-"
        "1F-10-01-00-60-1B-43-07-A0-00-00-00-04-10-10-44-10-44-65-62-69-74-20-4D-61-73-74-65-72-63-61-"
        "72-64-1F-2B-04-10-01-50-08"),
     PORTALUM_STATUS + " Parse_TlvInfos1",
     {"result_code": 0, "terminal_id": "00000006", "receipt_no": 8, "card_name": "MASTERCARD"}),
    ("status approved chip with TLV",
     _h("04-0F-6C-27-00-04-00-00-00-00-20-40-0C-21-09-16-0D-11-01-0E-99-99-22-F0-F8-EE-EE-EE-EE-EE-EE-47-"
        "71-A0-01-29-00-00-00-06-87-00-05-0B-00-00-00-8A-06-8B-F1-F1-4D-41-53-54-45-52-43-41-52-44-00-06-"
        "2E-2F-08-1F-12-01-01-1F-10-01-03-60-1B-43-07-A0-00-00-00-04-10-10-44-10-44-65-62-69-74-20-4D-61-"
        "73-74-65-72-63-61-72-64-1F-2B-04-10-01-60-05"),
     PORTALUM_STATUS + " Parse_TlvInfos2",
     {"result_code": 0, "amount": 2040, "receipt_no": 5}),
    ("status card rejected",
     _h("04-0F-25-27-05-29-29-00-02-74-3C-F0-F0-F9-41-62-67-65-6C-65-68-6E-74-8A-06-06-0D-24-0B-07-09-41-"
        "62-67-65-6C-65-68-6E-74"),
     PORTALUM_CLIENT + " PaymentAsync_CardRejected",
     {"result_code": 0x05, "terminal_id": "29000274", "additional_text": "Abgelehnt", "card_type": 6}),
    ("status minimal approved", _h("04 0F 02 27 00"), PORTALUM_CLIENT + " PaymentAsync_SuccessfulPayment",
     {"result_code": 0}),
    ("intermediate status with display texts",
     _h("04 FF 1E FF 10 06 1A 24 18 07 08 45 55 52 20 31 2E 32 33 07 0C 42 69 74 74 65 20 77 61 72 74 65 6E"),
     PORTALUM_INTERMEDIATE + " GetMessage_TlvData",
     {"code": 0xFF, "timeout": 0x10, "texts": ["EUR 1.23", "Bitte warten"]}),
    ("completion", _h("06 0F 00"), PORTALUM_CLIENT + " EndOfDayAsync_...WithCompletionReceived", {}),
    ("abort without code", _h("06 1E 00"), PORTALUM_CLIENT + " EndOfDayAsync_...WithAbortReceived1", {"code": 0}),
    ("abort card not readable", _h("06 1E 01 64"), PORTALUM_CLIENT + " EndOfDayAsync_...WithAbortReceived2",
     {"code": 0x64}),
    ("abort declined", _h("06 1E 01 05"), PORTALUM_CLIENT + " PaymentAsync_CardRejected", {"code": 0x05}),
    ("authorization 0.10", _h("06 01 07 04 00 00 00 00 10 00"), PORTALUM_CLIENT + " PaymentAsync_SuccessfulPayment",
     {"amount": 1000}),
]
