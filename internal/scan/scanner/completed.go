package scanner

import (
	"encoding/json"

	"github.com/berth-registry/berth/internal/metadata"
)

// ScanCompleted is the detail of a scan.completed event, written with
// every finished scan so that webhooks and the audit log hear of it.
type ScanCompleted struct {
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	DBVersion string `json:"dbVersion,omitempty"`
	// Findings counts the findings by severity (aliases not counted).
	Findings map[string]int `json:"findings,omitempty"`
}

// completedEvent announces rec, which has just finished.
func completedEvent(rec *metadata.ScanRecord) []metadata.Event {
	d := ScanCompleted{Status: rec.Status, Reason: rec.Reason, DBVersion: rec.DBVersion}
	for _, v := range rec.Vulns {
		if v.Finding != "" {
			continue
		}
		if d.Findings == nil {
			d.Findings = map[string]int{}
		}
		d.Findings[v.Severity]++
	}
	detail, _ := json.Marshal(d) // plain fields: cannot fail
	return []metadata.Event{{Type: metadata.EventScanCompleted, Repo: rec.Repo, Digest: rec.Digest,
		MediaType: rec.MediaType, Actor: "scanner", Detail: detail, At: rec.Finished}}
}
