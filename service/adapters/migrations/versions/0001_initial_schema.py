"""Initial schema: organisations, keys, chain identity, batches, items, event log, outbox.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 18:29:53.564405
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('chain_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('genesis_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_identity'))
    )
    op.create_table('deployments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('genesis_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('contract', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('tx_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments')),
    sa.UniqueConstraint('chain_id', 'genesis_hash', 'contract', name=op.f('uq_deployments_chain_id_genesis_hash_contract'))
    )
    op.create_table('events',
    sa.Column('log_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('log_index', name=op.f('pk_events'))
    )
    op.create_table('idempotency_keys',
    sa.Column('principal_id', sa.String(length=80), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('principal_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('log_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_head'))
    )
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', name=op.f('uq_organisations_name'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('to_address', sa.String(length=42), nullable=False),
    sa.Column('calldata', sa.LargeBinary(), nullable=False),
    sa.Column('value', sa.String(length=78), nullable=False),
    sa.Column('gas_limit', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('nonce', sa.BigInteger(), nullable=True),
    sa.Column('sender', sa.String(length=42), nullable=True),
    sa.Column('mined_tx_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('mined_block_number', sa.BigInteger(), nullable=True),
    sa.Column('mined_block_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('error_name', sa.String(length=100), nullable=True),
    sa.Column('error_args', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_status'), ['status'], unique=False)

    op.create_table('worker_leases',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=True),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_leases'))
    )
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_api_keys_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('lot', sa.String(length=64), nullable=False),
    sa.Column('chain_batch_id', sa.LargeBinary(length=32), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('metadata_json', sa.JSON(), nullable=False),
    sa.Column('metadata_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_batches_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_batches_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches')),
    sa.UniqueConstraint('chain_batch_id', name=op.f('uq_batches_chain_batch_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_batches_public_id'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('log_anchors',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('anchored_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_log_anchors_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_log_anchors')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_log_anchors_outbox_id'))
    )
    op.create_table('tx_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('tx_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('sender', sa.String(length=42), nullable=False),
    sa.Column('nonce', sa.BigInteger(), nullable=False),
    sa.Column('max_fee_per_gas', sa.BigInteger(), nullable=False),
    sa.Column('max_priority_fee_per_gas', sa.BigInteger(), nullable=False),
    sa.Column('gas_limit', sa.BigInteger(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_tx_attempts_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tx_attempts')),
    sa.UniqueConstraint('tx_hash', name=op.f('uq_tx_attempts_tx_hash'))
    )
    with op.batch_alter_table('tx_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tx_attempts_outbox_id'), ['outbox_id'], unique=False)

    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.String(length=78), nullable=False),
    sa.Column('item_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('leaf', sa.LargeBinary(length=32), nullable=False),
    sa.Column('leaf_index', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_items_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('batch_id', 'leaf_index', name=op.f('uq_items_batch_id_leaf_index')),
    sa.UniqueConstraint('item_id', name=op.f('uq_items_item_id')),
    sa.UniqueConstraint('token_id', name=op.f('uq_items_token_id'))
    )



    op.execute("INSERT INTO log_head (id, size) VALUES (1, 0)")
    op.execute("INSERT INTO worker_leases (name, holder, expires_at) VALUES ('sender', NULL, 0)")
    _append_only_events()


def _append_only_events() -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on the event log."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'events are append-only: % refused', TG_OP;
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END"
        )
        op.execute(
            "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_update_delete ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")

    op.drop_table('items')
    with op.batch_alter_table('tx_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tx_attempts_outbox_id'))

    op.drop_table('tx_attempts')
    op.drop_table('log_anchors')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_organisation_id'))

    op.drop_table('batches')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_organisation_id'))

    op.drop_table('api_keys')
    op.drop_table('worker_leases')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_status'))

    op.drop_table('outbox')
    op.drop_table('organisations')
    op.drop_table('log_head')
    op.drop_table('idempotency_keys')
    op.drop_table('events')
    op.drop_table('deployments')
    op.drop_table('chain_identity')

