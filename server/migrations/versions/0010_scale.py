"""bulk import keys; indexes for a million petitions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00

Measured with bench/scale.py on 1,000,000 petitions: the analyst's breakdowns by category and channel read
three covering indexes only (no filter, a date range, an area); the workbench and the due-soon board scan
the partial index of open petitions, the overdue board and counts that of overdue ones, the triage queue
that of petitions waiting for a unit; keyword search uses a trigram index of title and body (PostgreSQL with pg_trgm only: SQLite,
and a server without the extension, keep scanning, which is correct and slower).
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OPEN = "status IN ('registered', 'accepted', 'assigned', 'in_progress', 'replied', 'review_requested', " \
       "'under_review', 'review_replied', 'reexam_requested', 'under_reexam')"
WAITING = "status IN ('registered', 'accepted') AND lead_unit_id IS NULL"


def _has_trgm() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar():
        return True
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar():
        print("0010: pg_trgm is not available on this server; keyword search stays a sequential scan")
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        print(f"0010: cannot create the pg_trgm extension ({exc.orig}); keyword search stays a sequential scan")
        return False
    return True


def upgrade() -> None:
    op.create_table('petition_import_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('imported_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_import_keys_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_petition_import_keys'))
    )
    with op.batch_alter_table('petition_import_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_petition_import_keys_petition_id'), ['petition_id'], unique=False)

    op.create_index('ix_petitions_category_channel', 'petitions', ['category_id', 'channel'])
    op.create_index('ix_petitions_received_channel_category', 'petitions', ['received_at', 'channel', 'category_id'])
    op.create_index('ix_petitions_area_category_channel', 'petitions', ['area_code', 'category_id', 'channel'])
    op.create_index('ix_petitions_open_unit_due', 'petitions', ['lead_unit_id', 'due_at'],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_petitions_overdue', 'petitions', ['lead_unit_id', 'due_at'],
                    postgresql_where=sa.text(f"overdue_since IS NOT NULL AND {OPEN}"),
                    sqlite_where=sa.text(f"overdue_since IS NOT NULL AND {OPEN}"))
    op.create_index('ix_petitions_waiting', 'petitions', ['received_at'],
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
    if _has_trgm():
        op.create_index('ix_petitions_text_trgm', 'petitions', [sa.text("(title || ' ' || content) gin_trgm_ops")],
                        postgresql_using='gin')


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_petitions_text_trgm")
    op.drop_index('ix_petitions_waiting', table_name='petitions')
    op.drop_index('ix_petitions_overdue', table_name='petitions')
    op.drop_index('ix_petitions_open_unit_due', table_name='petitions')
    op.drop_index('ix_petitions_area_category_channel', table_name='petitions')
    op.drop_index('ix_petitions_received_channel_category', table_name='petitions')
    op.drop_index('ix_petitions_category_channel', table_name='petitions')
    with op.batch_alter_table('petition_import_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_petition_import_keys_petition_id'))
    op.drop_table('petition_import_keys')
