package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
)

type logFlags struct {
	format string
	level  string
}

func addLogFlags(cmd *kingpin.CmdClause) *logFlags {
	f := &logFlags{}
	cmd.Flag("log-format", "Log format: text or json.").Default("text").Envar("REMEDIATOR_LOG_FORMAT").EnumVar(&f.format, "text", "json")
	cmd.Flag("log-level", "Log level: debug, info, warn or error.").Default("info").Envar("REMEDIATOR_LOG_LEVEL").EnumVar(&f.level, "debug", "info", "warn", "error")
	return f
}

func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
