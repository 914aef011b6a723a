"""Bulk import of historical petitions (CSV / JSONL) outside the live status machine."""
