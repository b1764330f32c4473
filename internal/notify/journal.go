package notify

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// journal is this node's record of the e-mails it has handed over to the
// mail server, by delivery ID. One append is one write(2), made the moment
// a message's last line has gone out and before the server answers: a
// process killed after it has left the server the message, and the entry
// says so. Recover turns its entries into "in doubt" (never sent again)
// before it frees the node's other deliveries (sent again). The database
// could not stand in for it: a commit takes milliseconds, and a crash in
// them would send the message twice.
type journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("notify: handover journal: %w", err)
	}
	return &journal{path: path, f: f}, nil
}

// add records that delivery id was handed over.
func (j *journal) add(id int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.f.Write(append(strconv.AppendInt(nil, id, 10), '\n'))
	return err
}

// entries returns the IDs recorded; a torn last line is left out (its
// write never finished, and the dot it would stand for went first).
func (j *journal) entries() ([]int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	data, err := os.ReadFile(j.path)
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

// reset empties the journal once every entry is in the database.
func (j *journal) reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Truncate(0)
}

func (j *journal) close() error { return j.f.Close() }
