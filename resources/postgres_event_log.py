"""PostgreSQL event-log storage whose concurrency-slot claim holds: one slot, one step.

Dagster (1.13) claims a pool slot with ``SELECT ... FOR UPDATE SKIP LOCKED`` and then ``UPDATE ... WHERE id = ?``,
on a connection that dagster-postgres opens in autocommit mode. The row lock therefore ends with the SELECT, and
two run workers that claim the ``gpu`` pool (limit 1) at the same moment can both find the free slot and both
write their step into it: two trainings on one GPU. tests/test_prod_postgres.py saw it, both steps starting
within 4 ms. Here the claim runs in one transaction and only takes a slot that is still free.

deploy/dagster.postgres.yaml names this class as the instance's event-log storage.
"""

from __future__ import annotations

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config


class SerialisingPostgresEventLogStorage(PostgresEventLogStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str):
        import sqlalchemy as db
        from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
        from dagster._utils.concurrency import ConcurrencySlotStatus

        slots = ConcurrencySlotsTable.c
        free = db.and_(slots.concurrency_key == concurrency_key, slots.step_key.is_(None), slots.deleted.is_(False))
        with self.index_transaction() as conn:
            row = conn.execute(db.select(slots.id).where(free).with_for_update(skip_locked=True).limit(1)).fetchone()
            if row is None:
                return ConcurrencySlotStatus.BLOCKED
            taken = conn.execute(ConcurrencySlotsTable.update().values(run_id=run_id, step_key=step_key)
                                 .where(db.and_(slots.id == row[0], slots.step_key.is_(None)))).rowcount
        return ConcurrencySlotStatus.CLAIMED if taken else ConcurrencySlotStatus.BLOCKED
