package server

import (
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"liveroom/config"
	"liveroom/persistence"
)

// OpenStore opens the store the config names: Pebble in data_dir (one node),
// or the PostgreSQL database every node of a cluster shares. The server and
// the admin commands both open it here.
func OpenStore(cfg config.Config, log *zap.Logger, observe persistence.Observer) (persistence.Store, error) {
	switch cfg.Store {
	case "postgres":
		return persistence.OpenPostgres(cfg.PostgresURL, log.Named("postgres"), observe)
	default:
		dir := filepath.Join(cfg.DataDir, "store")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		return persistence.OpenPebble(dir, log.Named("pebble"), observe)
	}
}
