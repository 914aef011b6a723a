"""Security primitives: PII at rest, keyed lookups, passwords, tokens, settings refusals, log redaction."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from cases import service
from cases.models import Petitioner
from core import security
from core.security import PiiCipher, hash_password, mask_name, mask_phone, verify_password
from core.settings import Settings
from tests.cases.helpers import register


def test_pii_is_not_readable_in_the_raw_row(db):
    with db.transaction() as s:
        petition, _ = register(s, petitioner={"name": "赵六", "phone": "13712345678", "id_number": "11010519491231002X"})
        person_id = petition.petitioner_id
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM petitioners WHERE id = :id"), {"id": person_id}).mappings().one()
    raw = " ".join(str(v) for v in row.values())
    for secret in ("赵六", "13712345678", "11010519491231002X", "1371234", "49123"):
        assert secret not in raw
    assert row["phone"].startswith("v1:") and row["phone_hash"] and len(row["phone_hash"]) == 64
    with db.session() as s:
        person = s.get(Petitioner, person_id)
        assert (person.name, person.phone, person.id_number) == ("赵六", "13712345678", "11010519491231002X")


def test_same_id_number_finds_the_same_person(db):
    with db.transaction() as s:
        a, _ = register(s, petitioner={"name": "赵六", "id_number": "11010519491231002x"})
        b, _ = register(s, petitioner={"name": "赵六", "phone": "13700000000", "id_number": "11010519491231002X"})
        c, _ = register(s, petitioner={"phone": "13700000000"})
        assert a.petitioner_id == b.petitioner_id == c.petitioner_id
        d, _ = register(s, petitioner=None)
        assert d.petitioner_id is None


def test_cipher_properties():
    cipher = PiiCipher("k1")
    one, two = cipher.encrypt("13812341234"), cipher.encrypt("13812341234")
    assert one != two and cipher.decrypt(one) == cipher.decrypt(two) == "13812341234"
    assert cipher.lookup_hash("138 1234 1234") == cipher.lookup_hash("13812341234")
    assert PiiCipher("k2").lookup_hash("13812341234") != cipher.lookup_hash("13812341234")
    with pytest.raises(ValueError):
        PiiCipher("k2").decrypt(one)
    with pytest.raises(ValueError):
        cipher.decrypt(one[:-4] + "AAAA")


def test_passwords_and_masks():
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$") and verify_password(h, "s3cret-pass") and not verify_password(h, "s3cret-pasS")
    assert not verify_password("garbage", "x")
    assert (mask_name("张三"), mask_name("欧阳娜娜"), mask_phone("13812341234")) == ("张*", "欧***", "138****1234")


def test_passwords_are_hashed_at_the_configured_costs_and_production_refuses_weak_ones(settings):
    try:
        security.configure(Settings(environment="test", secret_key="a", pii_key="b"))
        assert "$m=65536,t=3,p=4$" in hash_password("s3cret-pass")  # argon2-cffi's defaults, RFC 9106
        security.configure(settings)
        cheap = hash_password("s3cret-pass")
        assert "$m=8,t=1,p=1$" in cheap and verify_password(cheap, "s3cret-pass")
    finally:
        security.configure(settings)
    weak = {"environment": "production", "broker_url": "redis://x", "secret_key": "a", "pii_key": "b"}
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(**weak, password_hash_memory_kib=8)
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(**weak, password_hash_time_cost=1)
    assert Settings(**weak, password_hash_memory_kib=19456, password_hash_time_cost=2).password_hash_parallelism == 4


def test_a_sign_in_rehashes_a_password_made_with_other_costs(db, settings):
    from core.accounts import check_password, create_user, get_by_username

    with db.transaction() as s:
        create_user(s, username="rehash1", password="long-enough-pass", role="agent", display_name="r")
    stronger = settings.model_copy(update={"password_hash_time_cost": 2, "password_hash_memory_kib": 16})
    try:
        security.configure(stronger)
        with db.transaction() as s:
            assert check_password(s, username="rehash1", password="wrong-password") is None
        with db.session() as s:
            assert "$m=8,t=1,p=1$" in get_by_username(s, "rehash1").password_hash  # a failed sign-in changes nothing
        with db.transaction() as s:
            assert check_password(s, username="rehash1", password="long-enough-pass") is not None
        with db.session() as s:
            upgraded = get_by_username(s, "rehash1").password_hash
        assert "$m=16,t=2,p=1$" in upgraded and verify_password(upgraded, "long-enough-pass")
    finally:
        security.configure(settings)


def test_placeholder_secrets_refused_in_production():
    with pytest.raises(ValidationError, match="PETITION_SECRET_KEY"):
        Settings(environment="production", broker_url="redis://x")
    with pytest.raises(ValidationError, match="PETITION_PII_KEY"):
        Settings(environment="production", broker_url="redis://x", secret_key="a-real-one")
    ok = Settings(environment="production", broker_url="redis://x", secret_key="a", pii_key="b")
    assert "a" not in repr(ok.secret_key)


def test_secrets_are_redacted_from_logs(caplog):
    from core.logging import RedactSecrets

    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "Authorization: Bearer abc.def and password=hunter2 at postgresql+psycopg://u:pw@h/db",
                               None, None)
    RedactSecrets().filter(record)
    message = record.getMessage()
    assert "abc.def" not in message and "hunter2" not in message and ":pw@" not in message
    assert "Bearer ***" in message


def test_query_code_is_stored_as_keyed_hash(db):
    with db.transaction() as s:
        petition, code = register(s)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT query_code_hash FROM petitions")).scalar_one()
    assert code not in stored and len(stored) == 64
    with db.session() as s:
        assert service.access_public(s, petition.tracking_no, code).id == petition.id
