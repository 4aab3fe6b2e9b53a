"""What every domain may use: settings, extensions, the database setup, errors, languages,
fault points, operations (request log, health check), backup, response delivery, the audit
log and the per-process cache. It imports no domain."""
