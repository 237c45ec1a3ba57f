-- PostgreSQL twin of ../0005_dashboard.sql.
CREATE INDEX incidents_status ON incidents (status, id);
CREATE INDEX incidents_provider_only ON incidents (provider, id);
CREATE INDEX incidents_kind ON incidents (kind, id);
CREATE INDEX incidents_severity ON incidents (severity, id);
CREATE INDEX incidents_ip_search ON incidents (ip) WHERE ip != '';
CREATE INDEX incidents_case_search ON incidents (case_id) WHERE case_id != '';
CREATE INDEX incidents_service_search ON incidents (service) WHERE service != '';
CREATE INDEX notices_case_search ON notices (case_id) WHERE case_id != '';
CREATE INDEX messages_received ON messages (received_at);
CREATE INDEX grants_server ON grants (provider, server_ip);
