package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"cadbox/app"

	bolt "go.etcd.io/bbolt"
)

var _ app.KeyStore = (*DB)(nil)

// apiKeyRecord is an API key as stored in the api_keys bucket (keyed by
// id); api_key_hashes maps each token hash to its key id.
type apiKeyRecord struct {
	app.APIKey
	Hash []byte `json:"hash"`
}

// CreateKey stores a key. Its id and hash must be new.
func (s *DB) CreateKey(ctx context.Context, k app.APIKey) error {
	if len(k.Hash) == 0 || k.ID == "" || !k.Role.Valid() {
		return app.Errorf(app.EINVALID, "The key needs an id, a token hash and a valid role.")
	}
	return s.updateReserve(ctx, func(tx *bolt.Tx) error {
		keys, hashes := bucket(tx, bucketKeys), bucket(tx, bucketKeyHashes)
		if keys.Get([]byte(k.ID)) != nil || hashes.Get(k.Hash) != nil {
			return app.Errorf(app.ECONFLICT, "A key with this id or token exists already.")
		}
		v, err := json.Marshal(apiKeyRecord{APIKey: k, Hash: k.Hash})
		if err != nil {
			return err
		}
		if err := keys.Put([]byte(k.ID), v); err != nil {
			return err
		}
		return hashes.Put(k.Hash, []byte(k.ID))
	})
}

// Keys lists every key, oldest first.
func (s *DB) Keys(ctx context.Context) ([]app.APIKey, error) {
	var out []app.APIKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			k, err := decodeKey(v)
			if err != nil {
				return err
			}
			out = append(out, k)
			return nil
		})
	})
	for i := 1; i < len(out); i++ { // insertion sort by creation: few keys
		for j := i; j > 0 && out[j].Created.Before(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, err
}

// KeyByHash finds the key of a token hash.
func (s *DB) KeyByHash(ctx context.Context, hash []byte) (app.APIKey, error) {
	var k app.APIKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketKeyHashes).Get(hash)
		if id == nil {
			return app.Errorf(app.ENOTFOUND, "No such key.")
		}
		v := tx.Bucket(bucketKeys).Get(id)
		if v == nil {
			return app.Errorf(app.ENOTFOUND, "No such key.")
		}
		var err error
		k, err = decodeKey(v)
		return err
	})
	return k, err
}

// RevokeKey marks a key revoked; it stays listed.
func (s *DB) RevokeKey(ctx context.Context, id string, at time.Time) (app.APIKey, error) {
	var k app.APIKey
	err := s.updateReserve(ctx, func(tx *bolt.Tx) error {
		keys := bucket(tx, bucketKeys)
		v := keys.Get([]byte(id))
		if v == nil {
			return app.Errorf(app.ENOTFOUND, "Key %s was not found.", id)
		}
		var err error
		if k, err = decodeKey(v); err != nil {
			return err
		}
		if k.Revoked == nil {
			t := at.UTC()
			k.Revoked = &t
		}
		nv, err := json.Marshal(apiKeyRecord{APIKey: k, Hash: k.Hash})
		if err != nil {
			return err
		}
		return keys.Put([]byte(id), nv)
	})
	return k, err
}

func decodeKey(v []byte) (app.APIKey, error) {
	var r apiKeyRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return app.APIKey{}, fmt.Errorf("api key record: %w", err)
	}
	r.APIKey.Hash = r.Hash
	return r.APIKey, nil
}
