package metadatatest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// RunUsers checks a backend's metadata.Users. open must return a new,
// empty store for each call. Beyond the interface comments it pins down:
// a nil Grants slice reads back as an empty one; Created survives.
func RunUsers(t *testing.T, open func(t *testing.T) metadata.Users) {
	ctx := context.Background()
	t.Run("CreateAndRead", func(t *testing.T) {
		s := open(t)
		alice := &metadata.User{Name: "alice", PasswordHash: "$h1", Grants: []metadata.Grant{{Pattern: "team/*", Role: "writer"}}, Created: t0}
		if err := s.CreateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &metadata.User{Name: "bob", PasswordHash: "$h2", Disabled: true}); err != nil {
			t.Fatal(err)
		}
		got, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, alice) {
			t.Errorf("User(alice) = %+v, want %+v", got, alice)
		}
		bob, err := s.User(ctx, "bob")
		if err != nil || !bob.Disabled || bob.Grants == nil || len(bob.Grants) != 0 || bob.Created.IsZero() {
			t.Errorf("User(bob) = %+v, %v; want disabled, empty non-nil grants, a creation time", bob, err)
		}
		list, err := s.ListUsers(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "alice" || list[1].Name != "bob" {
			t.Errorf("ListUsers = %+v, %v; want alice, bob", list, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		s := open(t)
		if list, err := s.ListUsers(ctx); err != nil || list == nil || len(list) != 0 {
			t.Errorf("ListUsers on an empty store = %#v, %v; want an empty non-nil slice", list, err)
		}
		if _, err := s.User(ctx, "nobody"); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("User(nobody) = %v, want ErrNotFound", err)
		}
		if err := s.UpdateUser(ctx, &metadata.User{Name: "nobody"}); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("UpdateUser(nobody) = %v, want ErrNotFound", err)
		}
		if err := s.CreateUser(ctx, &metadata.User{Name: "carol", PasswordHash: "$a"}); err != nil {
			t.Fatal(err)
		}
		err := s.CreateUser(ctx, &metadata.User{Name: "carol", PasswordHash: "$b"})
		if !errors.Is(err, metadata.ErrExists) {
			t.Errorf("second CreateUser(carol) = %v, want ErrExists", err)
		}
		if u, _ := s.User(ctx, "carol"); u == nil || u.PasswordHash != "$a" {
			t.Errorf("a refused CreateUser changed the account: %+v", u)
		}
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		if err := s.CreateUser(ctx, &metadata.User{Name: "dave", PasswordHash: "$old", Created: t0}); err != nil {
			t.Fatal(err)
		}
		want := &metadata.User{Name: "dave", PasswordHash: "$new", Disabled: true,
			Grants: []metadata.Grant{{Pattern: "*", Role: "admin"}, {Pattern: "lib/x", Role: "reader"}}, Created: t0}
		if err := s.UpdateUser(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.User(ctx, "dave")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after UpdateUser: %+v, %v; want %+v", got, err, want)
		}
	})
}
