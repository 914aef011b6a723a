"""Composition root: the ASGI app factory, the petition command line and the worker entry point."""
