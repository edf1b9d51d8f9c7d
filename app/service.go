package app

import (
	"context"
	"errors"
	"fmt"
)

// Follower keeps state derived from the store (a search index, analysis
// tables) by following its change log.
type Follower interface {
	// Name identifies the follower in logs and readiness reports.
	Name() string
	// CatchUp applies the change log at least up to seq. It is called
	// after every write, so a write returns only once its change is
	// visible in every follower (read-your-writes).
	CatchUp(ctx context.Context, seq uint64) error
}

// Service is the store with its followers: writes go to the store (the
// source of truth) and then to every follower. Reads go to the store.
type Service struct {
	IncidentStore
	followers []Follower
	// OnFollowError is told when a follower fails after a committed write;
	// the write stands (it is durable), and the follower catches up later.
	OnFollowError func(ctx context.Context, f Follower, err error)
}

// NewService wraps store.
func NewService(store IncidentStore, followers ...Follower) *Service {
	return &Service{IncidentStore: store, followers: followers}
}

// Upsert writes to the store, then brings the followers up to date.
func (s *Service) Upsert(ctx context.Context, docs []*Incident, opts WriteOptions) ([]WriteResult, error) {
	res, err := s.IncidentStore.Upsert(ctx, docs, opts)
	if err != nil {
		return nil, err
	}
	var seq uint64
	for _, r := range res {
		seq = max(seq, r.Seq)
	}
	if opts.DeferFollow {
		s.notify(seq)
		return res, nil
	}
	s.follow(ctx, seq)
	return res, nil
}

// Notifier is a Follower that can be told to catch up without being
// waited for.
type Notifier interface {
	Notify(seq uint64)
}

func (s *Service) notify(seq uint64) {
	if seq == 0 {
		return
	}
	for _, f := range s.followers {
		if n, ok := f.(Notifier); ok {
			n.Notify(seq)
		}
	}
}

// Sync waits until every follower has caught up to seq (after writes made
// with DeferFollow).
func (s *Service) Sync(ctx context.Context, seq uint64) {
	s.follow(ctx, seq)
}

// Replace writes to the store, then brings the followers up to date.
func (s *Service) Replace(ctx context.Context, doc *Incident, opts WriteOptions) (WriteResult, error) {
	res, err := s.IncidentStore.Replace(ctx, doc, opts)
	if err != nil {
		return res, err
	}
	s.follow(ctx, res.Seq)
	return res, nil
}

// Delete writes to the store, then brings the followers up to date.
func (s *Service) Delete(ctx context.Context, id IncidentID, opts WriteOptions) (WriteResult, error) {
	res, err := s.IncidentStore.Delete(ctx, id, opts)
	if err != nil {
		return res, err
	}
	s.follow(ctx, res.Seq)
	return res, nil
}

func (s *Service) follow(ctx context.Context, seq uint64) {
	if seq == 0 {
		return
	}
	// The write is committed: finish following it even if the client
	// went away.
	ctx = context.WithoutCancel(ctx)
	for _, f := range s.followers {
		if err := f.CatchUp(ctx, seq); err != nil && s.OnFollowError != nil {
			s.OnFollowError(ctx, f, err)
		}
	}
}

// ErrBehind is returned by a follower's readiness check while it has not
// caught up with the store.
var ErrBehind = errors.New("catching up with the store")

// Lag describes how far a follower is behind.
func Lag(applied, last uint64) error {
	if applied >= last {
		return nil
	}
	return fmt.Errorf("%w: %d of %d changes applied", ErrBehind, applied, last)
}
