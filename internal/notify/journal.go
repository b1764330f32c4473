package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// readJournal returns the delivery IDs a handover journal of an earlier
// version lists ("" or no file: none). That version appended an ID the
// moment an e-mail's last line had gone to the server; the handover is
// now recorded in the database before the final dot, where every node
// sees it, and this file is only read once, on upgrade, by Recover. A
// torn last line is left out (its write never finished).
func readJournal(path string) ([]int64, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notify: handover journal: %w", err)
	}
	lines := bytes.Split(data, []byte{'\n'})
	var ids []int64
	for _, line := range lines[:len(lines)-1] { // the last is "" or torn
		if id, err := strconv.ParseInt(string(line), 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
