package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Postgres is the Store every node of a cluster shares: one table of byte keys
// and values in PostgreSQL. The SQL is kept to what CockroachDB speaks too
// (bytea keys compare byte-wise in both, INSERT … ON CONFLICT, serializable
// transactions), so the same code runs against either.
type Postgres struct {
	pool    *pgxpool.Pool
	observe Observer
	log     *zap.Logger
	// timeout bounds every operation, so that an unreachable database gives
	// callers a prompt error instead of a hang.
	timeout time.Duration

	mu     sync.RWMutex // guards closed against calls racing Close
	closed bool
}

// ErrUnavailable wraps errors of a store that cannot be reached.
var ErrUnavailable = errors.New("persistence: store unavailable")

// migrations are applied in order, each once, at start. Append only: a
// migration that has run somewhere must never change.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS kv (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)`,
}

// OpenPostgres connects to the database at url (a postgres:// URL or a
// key=value DSN), applies pending schema migrations and returns the store.
func OpenPostgres(url string, log *zap.Logger, observe Observer) (*Postgres, error) {
	if observe == nil {
		observe = func(string, time.Duration, error) {}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres_url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on a 2-core machine) makes every room of the
		// node queue behind four connections; each write is one short
		// transaction, so allow more in flight. pool_max_conns in the URL
		// overrides this.
		cfg.MaxConns = 32
	}
	cfg.MaxConnIdleTime = time.Minute
	// A dead connection (database restarted) is found on use; check before
	// handing one out when it has been idle a while.
	cfg.HealthCheckPeriod = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &Postgres{pool: pool, observe: observe, log: log, timeout: 10 * time.Second}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	return p, nil
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() int { return len(migrations) - 1 }

// migrate brings the schema to SchemaVersion. Nodes starting at once may race
// on it: each step runs in a transaction that records its version, a version
// already recorded is skipped, and a lost race is retried.
func (p *Postgres) migrate(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = p.migrateOnce(ctx); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return fmt.Errorf("schema migration: %w", err)
}

func (p *Postgres) migrateOnce(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS liveroom_schema (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	for v := 1; v < len(migrations); v++ {
		err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM liveroom_schema WHERE version = $1`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO liveroom_schema (version) VALUES ($1)`, v)
			if err == nil && p.log != nil {
				p.log.Info("schema migrated", zap.Int("version", v))
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
	}
	return nil
}

func (p *Postgres) begin() (context.Context, context.CancelFunc, error) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	return ctx, cancel, nil
}

func (p *Postgres) end(op string, start time.Time, cancel context.CancelFunc, err *error) {
	cancel()
	p.mu.RUnlock()
	if *err != nil && !errors.Is(*err, ErrNotFound) && !errors.Is(*err, ErrConflict) {
		*err = fmt.Errorf("%w: postgres %s: %v", ErrUnavailable, op, *err)
	}
	p.observe(op, time.Since(start), *err)
}

// Get returns the value at key or ErrNotFound.
func (p *Postgres) Get(key []byte) (v []byte, err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return nil, err
	}
	defer p.end("get", time.Now(), cancel, &err)
	err = p.pool.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if v == nil && err == nil {
		v = []byte{}
	}
	return v, err
}

// nonNil keeps an empty value a value: pgx sends a nil slice as NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

const upsert = `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`

// Set writes value at key; it returns once the commit is durable.
func (p *Postgres) Set(key, value []byte) (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("set", time.Now(), cancel, &err)
	_, err = p.pool.Exec(ctx, upsert, key, nonNil(value))
	return err
}

// Delete removes key.
func (p *Postgres) Delete(key []byte) (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("delete", time.Now(), cancel, &err)
	_, err = p.pool.Exec(ctx, `DELETE FROM kv WHERE k = $1`, key)
	return err
}

// DeleteRange removes every key in [start, end) and syncs.
func (p *Postgres) DeleteRange(start, end []byte) (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("delete_range", time.Now(), cancel, &err)
	where, args := bounds(start, end)
	_, err = p.pool.Exec(ctx, `DELETE FROM kv`+where, args...)
	return err
}

// Apply commits the batch in one serializable transaction, retried when the
// database reports a serialization conflict with another transaction.
func (p *Postgres) Apply(b *Batch) (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("apply", time.Now(), cancel, &err)
	if len(b.ops) == 0 && len(b.checks) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
			for _, c := range b.checks {
				if err := checkTx(ctx, tx, c); err != nil {
					return err
				}
			}
			var q pgx.Batch
			for _, op := range b.ops {
				if op.del {
					q.Queue(`DELETE FROM kv WHERE k = $1`, op.key)
				} else {
					q.Queue(upsert, op.key, nonNil(op.value))
				}
			}
			return tx.SendBatch(ctx, &q).Close()
		})
		if !retryable(err) || attempt >= 20 || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

func checkTx(ctx context.Context, tx pgx.Tx, c batchCheck) error {
	var v []byte
	err := tx.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, c.key).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if c.absent {
			return nil
		}
		return ErrConflict
	case err != nil:
		return err
	case c.absent || string(v) != string(c.value):
		return ErrConflict
	}
	return nil
}

// retryable reports a serialization failure or deadlock: the transaction lost
// a race and may simply run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

func bounds(start, end []byte) (string, []any) {
	var conds []string
	var args []any
	if start != nil {
		args = append(args, start)
		conds = append(conds, fmt.Sprintf("k >= $%d", len(args)))
	}
	if end != nil {
		args = append(args, end)
		conds = append(conds, fmt.Sprintf("k < $%d", len(args)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Scan visits [start, end) in key order. Rows stream from the database, so a
// scan without a limit does not hold the whole range in memory.
func (p *Postgres) Scan(start, end []byte, reverse bool, limit int, fn func(key, value []byte) bool) (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("scan", time.Now(), cancel, &err)
	where, args := bounds(start, end)
	q := `SELECT k, v FROM kv` + where + ` ORDER BY k`
	if reverse {
		q += ` DESC`
	}
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := p.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		raw := rows.RawValues()
		if !fn(raw[0], raw[1]) {
			break
		}
	}
	rows.Close()
	return rows.Err()
}

// Ping checks that the database answers.
func (p *Postgres) Ping() (err error) {
	ctx, cancel, err := p.begin()
	if err != nil {
		return err
	}
	defer p.end("ping", time.Now(), cancel, &err)
	_, err = p.pool.Exec(ctx, `SELECT 1`)
	return err
}

// Close closes the connection pool; later calls get ErrClosed.
func (p *Postgres) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.pool.Close()
	return nil
}
