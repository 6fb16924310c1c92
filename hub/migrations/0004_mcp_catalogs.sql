-- The last catalog read from each upstream MCP server (tools, prompts, resources and templates
-- as JSON), replaced whenever the server's catalog is read again; shown while the server is
-- not connected. Rows of servers no longer registered are deleted when they are unregistered.
CREATE TABLE mcp_catalogs (
    server      TEXT PRIMARY KEY,
    catalog     TEXT NOT NULL,
    fetched_at  BIGINT NOT NULL
);
