package sqlite

import "slokeeper"

// NewServices returns every storage service on db. Logs stay in local
// files with SQLite, so LogBlocks is nil.
func NewServices(db *DB) slokeeper.Services {
	return slokeeper.Services{
		Evidence: NewEvidenceService(db), Audit: NewAuditStore(db), Operators: NewOperatorService(db),
		Accounts: NewAccountService(db), Grants: NewAccountService(db), Backups: NewBackupCatalog(db), PassLock: NewPassLock(db),
		Components: NewComponentService(db), Maintenance: NewMaintenanceService(db), Incidents: NewIncidentService(db),
		Notices: NewNotificationService(db), Nodes: NewNodeService(db), LogCatalog: NewLogCatalog(db), Sources: NewSourceService(db),
	}
}
