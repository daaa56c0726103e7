package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"liveroom/config"
	"liveroom/server"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := config.Load(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		err := server.Run(ctx, cfg)
		// A node the cluster dropped (paused or cut off for longer than its
		// membership lease) cannot come back under its old member id: start
		// it again, as a new member, in this same process.
		if !errors.Is(err, server.ErrEvicted) || ctx.Err() != nil {
			return err
		}
	}
}
