"""Shared test helpers: small synthetic panels, landing drops and lakes."""
