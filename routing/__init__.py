"""Which unit handles a petition and what it resembles.

Duty lists and admin rules, the category classifier or zero-shot fallback, the similar-case index,
repeat and collective-candidate detection, and an explanation of every suggestion.
"""
