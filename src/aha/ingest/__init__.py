"""Ingestion: Segment-spec validation, identity, dedupe by messageId, clock-skew correction, dead letters, and the
durable write path (spool → writer → store). See docs/ingest.md."""
