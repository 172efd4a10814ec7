"""Placeholder: the slapd fixtures land here."""
