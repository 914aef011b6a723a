"""Property-based requests against our own OpenAPI schema (schemathesis): whatever the input, never a 5xx.

A bounded, derandomized run on SQLite: the same examples every time, a few per operation, with the staff bearer
token so that staff routes are exercised past authentication. WebSockets (/ws/chat, mediation signalling) and the
console's server-sent events are not in the schema; the test checks that no streaming operation slipped in.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
import standins
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from core.settings import Settings
from tests.conftest import CHEAP_HASHING

ADMIN_TOKEN = "schemathesis-admin-token-7f3a"
# Examples per operation: ~80 operations; the whole run stays near half a minute on two shared cores.
MAX_EXAMPLES = 10
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    """Serve the real app on a fresh SQLite database with reference data; restore the process-wide state after."""
    from cases import catalog
    from core import db as core_db
    from core import security
    from core import settings as core_settings
    from server.app import create_app
    from server.demo import load_reference
    from server.migrate import upgrade

    tmp = tmp_path_factory.mktemp("schemathesis")
    # Every channel configured, its platform API at a local stand-in: webhooks check signatures instead of
    # answering "not configured" (503), and the mini-program login reaches a code2session that answers.
    twilio, wechat = standins.twilio.TwilioStandIn().start(), standins.wechat.StandIn().start()
    tw, wk = standins.twilio, standins.wechat
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp / 'api.db'}", broker_url=None,
                        pii_key="schemathesis-pii-key", secret_key="schemathesis-secret-key",
                        bootstrap_admin_token=SecretStr(ADMIN_TOKEN), embedded_scheduler=False, route_on_register=False,
                        risk_on_register=False, embedder="lexical", zero_shot=False, classifier_dir="/nonexistent/model",
                        index_dir=str(tmp / "index"), media_dir=str(tmp / "media"), rate_limit_enabled=False, **CHEAP_HASHING,
                        wechat_token=SecretStr(wk.TOKEN), wechat_appid=wk.APPID, wechat_appsecret=SecretStr(wk.SECRET),
                        wechat_api_base=wechat.base_url, miniprogram_appid=wk.MINI_APPID,
                        miniprogram_secret=SecretStr(wk.MINI_SECRET), twilio_account_sid=tw.ACCOUNT_SID,
                        twilio_auth_token=SecretStr(tw.AUTH_TOKEN), twilio_from=tw.FROM_NUMBER,
                        twilio_api_base=twilio.base_url, public_base_url=tw.PUBLIC_BASE,
                        open311_api_key=SecretStr("schemathesis-open311-key"))
    previous = (core_settings._current, core_db._database, security._cipher, security._audit_signer)
    app = create_app(settings)
    upgrade(app.state.db)
    with app.state.db.transaction() as session:
        catalog.load_taxonomy(session)
        load_reference(session)
    try:
        yield app
    finally:
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()
        app.state.db.dispose()
        twilio.stop()
        wechat.stop()
        core_settings._current, core_db._database, security._cipher, security._audit_signer = previous


@pytest.fixture(scope="module")
def api_schema(api_app):
    """Load the app's OpenAPI schema for schemathesis."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    streaming = [f"{method.upper()} {path}" for path, item in loaded.raw_schema["paths"].items()
                 for method, op in item.items() if isinstance(op, dict)
                 for status in (op.get("responses") or {}).values() if "text/event-stream" in (status.get("content") or {})]
    assert not streaming, f"streaming operations need an explicit skip here: {streaming}"
    return loaded


def test_no_server_errors(api_schema):
    failures = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # Valid and invalid input alike: a bad request is the caller's error (4xx), never ours.
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

        @hypothesis.given(case=cases)
        @hypothesis.settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                             suppress_health_check=list(hypothesis.HealthCheck))
        def run(case):
            case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' failure group: report every operation at the end
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 60, f"only {operations} operations in the schema"
    assert not failures, "server errors:\n\n" + "\n\n".join(failures)
