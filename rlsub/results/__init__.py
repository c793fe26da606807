"""Stored results: the SQLite trial store (``store``) and its schema migrations (``migrate``)."""
