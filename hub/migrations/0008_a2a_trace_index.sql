-- Listing traces reads the requests that started them, newest first.
CREATE INDEX a2a_trace_events_kind ON a2a_trace_events (kind, at);
