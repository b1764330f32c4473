package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// targetReport is what the backup target keeps of erased backups, against
// the policy's ceilings: notes to show, and conflicts where an object
// lock keeps backups past their ceiling.
type targetReport struct {
	Notes     []policy.Text
	Conflicts []lifecycle.LockConflict
}

// checkTarget asks the target for its versioning and object lock and says
// what they mean for the erasure promise. The rule (does the lock outlast
// a ceiling) is lifecycle.LockConflicts.
func checkTarget(ctx context.Context, target slokeeper.BlobStore, p *policy.Policy, now time.Time) (targetReport, error) {
	var r targetReport
	prot, err := target.Protection(ctx)
	if err != nil {
		return r, err
	}
	if prot.Versioning && !prot.ObjectLock {
		r.Notes = append(r.Notes, policy.Text{
			JA: "バックアップ先はバージョニングが有効です。バックアップの消去では、鍵を破棄したうえで全バージョンを削除します。複製やライフサイクル規則など別の場所にコピーが残っても、鍵がないため読めません。",
			EN: "The backup target has versioning on. Erasing a backup destroys its key, then deletes every version; a copy kept elsewhere (replication, a lifecycle rule) is unreadable without the key.",
		})
	}
	if prot.ObjectLock {
		r.Notes = append(r.Notes, policy.Text{
			JA: fmt.Sprintf("バックアップ先はオブジェクトロック(%s、既定の保持 %d 日)が有効です。保持期間中のバージョンは削除できません。消去時に鍵を破棄するので残るコピーは読めません。", cmpStr(prot.LockMode, "-"), prot.LockDays),
			EN: fmt.Sprintf("The backup target has object lock (%s, default retention %d days): versions under retention cannot be deleted. Erasing destroys the backup's key, so the copies left are unreadable.", cmpStr(prot.LockMode, "-"), prot.LockDays),
		})
		if r.Conflicts, err = lifecycle.LockConflicts(p, prot.LockDays, now); err != nil {
			return r, err
		}
	}
	return r, nil
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// warnTarget prints checkTarget's report on w, one line per language, a
// conflict marked as such. It reports whether there was a conflict.
func warnTarget(ctx context.Context, target slokeeper.BlobStore, p *policy.Policy, now time.Time, w io.Writer) (bool, error) {
	r, err := checkTarget(ctx, target, p, now)
	if err != nil {
		return false, err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "backup target: %s\nバックアップ先: %s\n", n.EN, n.JA)
	}
	for _, c := range r.Conflicts {
		m := c.Message(p.Location())
		fmt.Fprintf(w, "backup target: WARNING: %s\nバックアップ先: 警告: %s\n", m.EN, m.JA)
	}
	return len(r.Conflicts) > 0, nil
}
