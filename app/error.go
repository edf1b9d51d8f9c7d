package app

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. The HTTP layer maps each code to a
// status and a stable problem type.
type Code string

// Error codes.
const (
	EINVALID      Code = "invalid"             // the input is well-formed but breaks a rule
	EMALFORMED    Code = "malformed"           // the input cannot be parsed
	ENOTFOUND     Code = "not_found"           // the thing asked for does not exist
	ECONFLICT     Code = "conflict"            // the request conflicts with the stored state
	EPRECONDITION Code = "precondition_failed" // If-Match did not match
	ETOOLARGE     Code = "too_large"           // the body is over the configured limit
	EUNSUPPORTED  Code = "unsupported_media"   // the content type or encoding is not accepted
	EUNAVAILABLE  Code = "unavailable"         // the service cannot serve now (starting, shutting down)
	EFULL         Code = "storage_full"        // the data volume is full
	EUNAUTHORIZED Code = "unauthorized"        // no valid API key
	EFORBIDDEN    Code = "forbidden"           // the key's role does not allow it
	ERATELIMITED  Code = "rate_limited"        // too many requests for this key
	EINTERNAL     Code = "internal"            // a bug or an I/O failure; details are only logged
)

// FieldError locates one problem in a document by JSON pointer (RFC 6901),
// for example /description/event_opened.
type FieldError struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// Error is an error a client can act on. Message is safe to show to a
// client; Err (if any) is the underlying cause, which is only logged.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Code, e.Message)
	for _, f := range e.Fields {
		msg += fmt.Sprintf("; %s: %s", f.Pointer, f.Message)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error that lists field errors.
func Invalid(msg string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL when there is none (any unexpected error is internal).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the *Error's message,
// or "Internal error." for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field errors carried by err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

var errNotRFC3339 = errors.New("must be an RFC 3339 timestamp such as 2017-05-15T13:19:12-04:00")
