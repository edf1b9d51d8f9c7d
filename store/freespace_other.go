//go:build !(linux || darwin || freebsd)

package store

import "errors"

// freeSpace is not known on this system: Options.MinFree is not enforced.
func freeSpace(string) (int64, error) {
	return 0, errors.New("free space unknown on this system")
}
