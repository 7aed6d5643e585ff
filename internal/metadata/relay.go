package metadata

import "context"

// Cursors keeps, per named outbox subscriber, the ID of the last event it
// handled, so that a relay resumes where it stopped after a restart.
type Cursors interface {
	// LoadCursor returns the last event ID recorded for name, or 0.
	LoadCursor(ctx context.Context, name string) (int64, error)
	// SaveCursor records that name has handled every event up to id.
	SaveCursor(ctx context.Context, name string, id int64) error
}

type clientIPKey struct{}

// WithClientIP names the address a change came from in ctx; backends stamp
// it on outbox events, as they do the actor.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom returns the address set by WithClientIP, or "".
func ClientIPFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey{}).(string)
	return s
}
