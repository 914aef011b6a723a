"""The console fixtures (signed-in staff clients) for the knowledge-base pages."""

from tests.admin_web.conftest import app, as_role, staff  # noqa: F401
