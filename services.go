package slokeeper

// Services is the bundle of storage services one engine provides: the
// server, the commands and the conformance suite all take it from the
// engine's NewServices (sqlite.NewServices, postgres.NewServices), so the
// list is written once per engine.
type Services struct {
	Evidence    EvidenceService
	Audit       AuditStore
	Operators   OperatorService
	Accounts    AccountService
	Grants      GrantService
	Backups     BackupCatalog
	PassLock    PassLock // one lifecycle pass at a time for the cluster
	Components  ComponentService
	Maintenance MaintenanceService
	Incidents   IncidentService
	Notices     NotificationService
	Nodes       NodeService
	LogCatalog  LogCatalog
	LogBlocks   LogBlockStore // the shared log store; nil: logs in local files (SQLite)
	Sources     SourceService
}
