"""The petition (case) and its lifecycle: petitioners, units, categories, status machine, statutory clock, replies, feedback, review and the audit log."""
