-- The dashboard's queries (web/). Its incident list is newest first (by id)
-- under any one filter, so each filter column has an index in id order
-- (SQLite would add the rowid anyway; PostgreSQL needs it named); searches
-- look an IP, case or service up by prefix.
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_provider_only ON incidents (provider, id);
CREATE INDEX incidents_kind ON incidents (kind, id);
CREATE INDEX incidents_severity ON incidents (severity, id);
CREATE INDEX incidents_ip_search ON incidents (ip) WHERE ip != '';
CREATE INDEX incidents_case_search ON incidents (case_id) WHERE case_id != '';
CREATE INDEX incidents_service_search ON incidents (service) WHERE service != '';
-- A case named by a later notice only (a provider's second ticket).
CREATE INDEX notices_case_search ON notices (case_id) WHERE case_id != '';
-- The overview's chart counts notices per day over the last 90 days.
CREATE INDEX messages_received ON messages (received_at);
-- The grants of an incident's server.
CREATE INDEX grants_server ON grants (provider, server_ip);
