package policies

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce coalesces the burst of events one save produces (editors
// write, rename and chmod; a ConfigMap update swaps a symlink) into one reload.
const reloadDebounce = 250 * time.Millisecond

// Watch reloads the policy whenever a file under the policy directory changes,
// until ctx ends. Without a directory there is nothing to watch and it returns
// at once.
func (e *Engine) Watch(ctx context.Context) error {
	if e.dir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching policy directory: %w", err)
	}
	defer w.Close()
	if err := addTree(w, e.dir); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// The timer starts at the first event of a burst and is not pushed back by
	// later ones, so a directory that keeps changing still reloads.
	pending := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				// A new subdirectory must be watched too; errors here only
				// mean it vanished again.
				_ = addTree(w, ev.Name)
			}
			if !pending {
				pending = true
				timer.Reset(reloadDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			e.log.Warn("policy directory watch error", "dir", e.dir, "err", err)
		case <-timer.C:
			pending = false
			e.log.Info("policy files changed, reloading", "dir", e.dir)
			_ = e.Reload(ctx) // Reload logs and counts its own failure.
		}
	}
}

// addTree watches root and every directory below it.
func addTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := w.Add(path); err != nil {
				return fmt.Errorf("watching %s: %w", path, err)
			}
		}
		return nil
	})
}
