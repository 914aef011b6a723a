"""The knowledge base: answers written by admins and drawn from past official replies, and contact types."""
