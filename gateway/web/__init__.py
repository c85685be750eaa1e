"""Public web pages: verification of receipts by CSV code, without a certificate."""
