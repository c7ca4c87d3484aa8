"""The green ID card a buyer sees: page, QR code and printable certificate."""
