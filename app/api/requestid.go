package api

import (
	"crypto/rand"
	"encoding/hex"
)

// newRequestID returns 16 random hex characters.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// maxRequestIDLen bounds a request id a client sends in X-Request-ID.
const maxRequestIDLen = 64

// validRequestID reports whether a client's X-Request-ID may be kept: it
// is logged and echoed back, so only short ids of letters, digits and
// ".-_:" are; anything else is replaced by a generated one.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}
