package policy

import (
	"errors"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

func isNotFound(err error) bool { return errors.Is(err, retention.ErrNotFound) }
