package haproxy

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dfaas-go/dfaas/internal/nodetls"
)

// writeFiles writes f into the work directory (creating it and its maps and
// sock sub-directories with mode 0700), each file atomically: a reader
// sees the old or the new content, never a mix.
func writeFiles(o *settings, f Files) error {
	for _, d := range []string{o.dir, filepath.Join(o.dir, "maps"), filepath.Join(o.dir, "sock"), filepath.Join(o.dir, "tls")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("haproxy: work directory: %w", err)
		}
	}
	if err := writeAtomic(o.emptyPath(), nil); err != nil {
		return err
	}
	for name, content := range f.Maps {
		if err := writeAtomic(filepath.Join(o.dir, name), []byte(content)); err != nil {
			return err
		}
	}
	for name, content := range f.CAFiles {
		if err := writeAtomic(filepath.Join(o.dir, name), []byte(content)); err != nil {
			return err
		}
	}
	if o.cert != nil {
		key, err := nodetls.KeyPEM(*o.cert)
		if err != nil {
			return fmt.Errorf("haproxy: Certificate: %w", err)
		}
		if err := writeAtomic(o.nodeCertPath(), key); err != nil {
			return err
		}
	}
	return writeAtomic(o.configPath, []byte(f.Config))
}

// writeAtomic replaces the file at path with data (mode 0600), unless it
// already holds exactly data.
func writeAtomic(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("haproxy: write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("haproxy: write %s: %w", path, err)
	}
	return nil
}
