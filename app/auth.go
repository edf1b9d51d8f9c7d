package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what an API key may do.
type Role string

// Roles, each including the one before it.
const (
	RoleReader Role = "reader" // reads, search, stats, export
	RoleWriter Role = "writer" // reader + upload, update, delete
	RoleAdmin  Role = "admin"  // writer + key management and backups
)

// rank orders the roles.
func (r Role) rank() int {
	switch r {
	case RoleReader:
		return 1
	case RoleWriter:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// Includes reports whether r may do what need allows.
func (r Role) Includes(need Role) bool { return r.rank() >= need.rank() && need.Valid() }

// APIKey is a key as stored: never the token itself, only its hash.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Departments limits the key to these fd_ids; empty means every
	// department.
	Departments []string   `json:"departments,omitempty"`
	Created     time.Time  `json:"created"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	// Hash is the SHA-256 of the token.
	Hash []byte `json:"-"`
}

// AllDepartments reports whether the key is not limited to departments.
func (k *APIKey) AllDepartments() bool { return len(k.Departments) == 0 }

// MaySee reports whether the key may read or write department fdID.
func (k *APIKey) MaySee(fdID string) bool {
	return k.AllDepartments() || slices.Contains(k.Departments, fdID)
}

// Covers reports whether every department of other is within k's scope.
func (k *APIKey) Covers(departments []string) bool {
	if k.AllDepartments() {
		return true
	}
	if len(departments) == 0 {
		return false
	}
	for _, d := range departments {
		if !k.MaySee(d) {
			return false
		}
	}
	return true
}

// tokenPrefix marks cadbox tokens so they are recognisable in a leak
// scanner and in logs that must not contain them.
const tokenPrefix = "cbx_"

// NewToken returns a new random 256-bit token and its key id.
func NewToken() (token, id string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), "key_" + hex.EncodeToString(idb[:]), nil
}

// HashToken returns the SHA-256 of a token. Tokens are 256 random bits,
// so a fast hash is enough: there is nothing to guess.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenMatches compares a token with a stored hash in constant time.
func TokenMatches(token string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashToken(token), hash) == 1
}

// ParseBearer extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive). It returns "" when the
// header is not a well-formed bearer credential.
func ParseBearer(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	token = strings.TrimSpace(token)
	if len(token) == 0 || len(token) > 256 {
		return ""
	}
	for i := 0; i < len(token); i++ {
		// RFC 6750 b64token characters.
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/=", c) >= 0) {
			return ""
		}
	}
	return token
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores a key with the given token's hash.
	CreateKey(ctx context.Context, k APIKey) error
	// Keys lists every key, revoked ones included.
	Keys(ctx context.Context) ([]APIKey, error)
	// KeyByHash finds a key by its token's hash. Returns ENOTFOUND.
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// RevokeKey marks a key revoked. Returns ENOTFOUND.
	RevokeKey(ctx context.Context, id string, at time.Time) (APIKey, error)
}

type principalKey struct{}

// WithPrincipal returns a context that carries the authenticated key.
func WithPrincipal(ctx context.Context, k *APIKey) context.Context {
	return context.WithValue(ctx, principalKey{}, k)
}

// PrincipalFrom returns the authenticated key of a request, or nil.
func PrincipalFrom(ctx context.Context) *APIKey {
	k, _ := ctx.Value(principalKey{}).(*APIKey)
	return k
}

// NewAPIKey makes a key and its token. The token is returned once; only
// its hash is kept.
func NewAPIKey(name string, role Role, departments []string, now time.Time) (APIKey, string, error) {
	var fields []FieldError
	if !role.Valid() {
		fields = append(fields, FieldError{Pointer: "/role", Message: "must be reader, writer or admin"})
	}
	if len(name) > 100 {
		fields = append(fields, FieldError{Pointer: "/name", Message: "must be at most 100 characters"})
	}
	for i, d := range departments {
		if !ValidID(d) {
			fields = append(fields, FieldError{Pointer: "/departments/" + itoa(i), Message: idRule})
		}
	}
	if len(fields) > 0 {
		return APIKey{}, "", Invalid("The key is not valid.", fields...)
	}
	token, id, err := NewToken()
	if err != nil {
		return APIKey{}, "", err
	}
	depts := slices.Clone(departments)
	slices.Sort(depts)
	depts = slices.Compact(depts)
	return APIKey{ID: id, Name: name, Role: role, Departments: depts, Created: now.UTC(), Hash: HashToken(token)}, token, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
