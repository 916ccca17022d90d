"""Card payments: journal, payables, the payment service, cashier, end of day, receipts."""
