"""Replication: signed envelopes, a transactional outbox, an idempotent inbox, NATS transport."""
