package authn

import (
	"errors"
	"fmt"
)

// MaxUserNameLen bounds account names, which appear in tokens and logs.
const MaxUserNameLen = 64

// ValidUserName accepts 1 to 64 characters of [a-zA-Z0-9._@-], starting
// with a letter or digit: safe in a token subject, a log line and a
// Basic credential (no colon).
func ValidUserName(name string) error {
	if name == "" || len(name) > MaxUserNameLen {
		return fmt.Errorf("user name %.80q: want 1 to %d characters", name, MaxUserNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '@')) {
			return errors.New("user name " + fmt.Sprintf("%.80q", name) + ": only letters, digits and . _ - @ (not first)")
		}
	}
	return nil
}
