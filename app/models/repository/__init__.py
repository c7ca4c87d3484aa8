"""Persistence by aggregate: each module is the only place its tables' SQL lives.

* ``entries`` — ledger entries, the Merkle tree's stored subtrees, checkpoints;
* ``lots`` — lots and the links of their chains;
* ``genealogy`` — ancestry closures and lineage edges;
* ``partners`` — partners, their keys, the service key's announcements (the registry);
* ``summaries`` — logged lot summaries;
* ``feed`` — the partner feed, webhooks and their deliveries;
* ``batch`` — what a batch reads in one round trip (it crosses aggregates on purpose);
* ``_sql`` — how they speak to the driver.

``append_*``, ``insert_*``, ``save_*`` and ``record_*`` are the only statements that
write, and only ``app.services.writer`` (and the registry and feed services for their
own rows) call them. Callers own the transaction (``app.db.write_transaction``);
nothing here commits. The names are re-exported here so that a service reads
``repository.lot_state`` wherever the SQL lives.
"""

from app.models.repository._sql import pipeline
from app.models.repository.batch import BatchState, batch_state
from app.models.repository.entries import (
    CheckpointRow,
    Link,
    append_checkpoint,
    append_entries,
    append_tree_nodes,
    checkpoint_by_size,
    entry_by_hash,
    entry_by_seq,
    entry_row,
    entry_rows,
    iter_checkpoints,
    iter_entries,
    iter_tree_nodes,
    key_record_bodies,
    latest_checkpoint,
    link_rows,
    next_seq,
    node_rows,
    nodes_beyond,
    tree_nodes_by_id,
)
from app.models.repository.feed import (
    FeedItem,
    WebhookRow,
    append_feed_rows,
    delete_webhook,
    deliveries_of,
    due_webhooks,
    feed_items,
    feed_rows,
    last_feed_id,
    lease_webhook,
    save_webhook,
    webhook_done,
    webhook_of,
)
from app.models.repository.genealogy import EdgeRow, ancestry, lineage
from app.models.repository.lots import (
    append_event_rows,
    events_of_lot,
    input_prev,
    iter_lot_ids,
    iter_lots,
    list_lots,
    lot_latest_seq,
    lot_seq_of,
    lot_state,
    lots_by_id,
    lots_of_partner,
    save_lots,
    signers_before,
)
from app.models.repository.partners import (
    KeyRow,
    PartnerRow,
    insert_partner,
    insert_partner_key,
    key_by_id,
    keys_by_ids,
    keys_of_partner,
    list_partners,
    partner_by_api_key_hash,
    partner_by_id,
    partners_by_ids,
    record_key_revoked,
    registry_entries,
    replace_api_key_hash,
    service_key_entries,
)
from app.models.repository.summaries import (
    append_summary_rows,
    latest_summary,
    latest_summary_before,
    summaries_at,
    summary_body_of,
)

__all__ = [
    "BatchState",
    "CheckpointRow",
    "EdgeRow",
    "FeedItem",
    "KeyRow",
    "Link",
    "PartnerRow",
    "WebhookRow",
    "ancestry",
    "append_checkpoint",
    "append_entries",
    "append_event_rows",
    "append_feed_rows",
    "append_summary_rows",
    "append_tree_nodes",
    "batch_state",
    "checkpoint_by_size",
    "delete_webhook",
    "deliveries_of",
    "due_webhooks",
    "entry_by_hash",
    "entry_by_seq",
    "entry_row",
    "entry_rows",
    "events_of_lot",
    "feed_items",
    "feed_rows",
    "input_prev",
    "insert_partner",
    "insert_partner_key",
    "iter_checkpoints",
    "iter_entries",
    "iter_lot_ids",
    "iter_lots",
    "iter_tree_nodes",
    "key_by_id",
    "key_record_bodies",
    "keys_by_ids",
    "keys_of_partner",
    "last_feed_id",
    "latest_checkpoint",
    "latest_summary",
    "latest_summary_before",
    "lease_webhook",
    "lineage",
    "link_rows",
    "list_lots",
    "list_partners",
    "lot_latest_seq",
    "lot_seq_of",
    "lot_state",
    "lots_by_id",
    "lots_of_partner",
    "next_seq",
    "node_rows",
    "nodes_beyond",
    "partner_by_api_key_hash",
    "partner_by_id",
    "partners_by_ids",
    "pipeline",
    "record_key_revoked",
    "registry_entries",
    "replace_api_key_hash",
    "save_lots",
    "save_webhook",
    "service_key_entries",
    "signers_before",
    "summaries_at",
    "summary_body_of",
    "tree_nodes_by_id",
    "webhook_done",
    "webhook_of",
]
