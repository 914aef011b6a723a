"""The petition (case) and its lifecycle.

Petitioners, units, the category taxonomy, the status machine, the statutory clock, replies,
feedback, review and re-examination, and the tamper-evident audit log.
"""
