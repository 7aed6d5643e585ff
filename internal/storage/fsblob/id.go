package fsblob

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/berth-registry/berth/internal/storage"
)

// newID returns a fresh upload ID: a random UUID in canonical form.
func newID() string { return uuid.NewString() }

// validID reports whether id is a canonical lower-case UUID, the only form
// newID produces. Upload IDs come from clients and become path elements, so
// nothing else (no dots, slashes or alternative UUID spellings) is allowed.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	_, err := uuid.Parse(id)
	return err == nil
}

// checkID returns storage.ErrUploadUnknown for an invalid ID: an ID the store
// could never have issued names no upload.
func checkID(id string) error {
	if !validID(id) {
		return fmt.Errorf("upload %.64q: malformed id: %w", id, storage.ErrUploadUnknown)
	}
	return nil
}
