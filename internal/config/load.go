package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the configuration file; a real one is a few KiB.
const maxFileSize = 1 << 20

// Sources are the layers of a configuration, lowest precedence first after
// the defaults: File, then Env, then Flags.
type Sources struct {
	// File is a YAML file; "" means none.
	File string
	// Env looks up environment variables (os.LookupEnv); nil means none.
	Env func(string) (string, bool)
	// Flags maps key names (Key.Name) to values given on the command line.
	Flags map[string]string
}

// Build layers defaults, file, environment and flags, then validates.
func Build(src Sources) (Config, error) {
	c := Default()
	if src.File != "" {
		var err error
		if c, err = Load(src.File); err != nil {
			return Config{}, err
		}
	}
	if src.Env != nil {
		for _, k := range Keys() {
			v, ok := src.Env(k.Env())
			if !ok {
				continue
			}
			if err := k.set(&c, v); err != nil {
				return Config{}, &FieldError{Key: k.Name, Source: k.Env(), Err: err}
			}
		}
	}
	for name, v := range src.Flags {
		k, ok := LookupKey(name)
		if !ok {
			return Config{}, &FieldError{Key: name, Err: errors.New("unknown key")}
		}
		if err := k.set(&c, v); err != nil {
			return Config{}, &FieldError{Key: k.Name, Source: "--" + k.Flag(), Err: err}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads a YAML file over the defaults. Unknown keys are refused so a
// typo cannot silently fall back to a default. Load does not validate: more
// layers may follow; Build validates the result.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: reading %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return Config{}, fmt.Errorf("config: reading %s: larger than %d bytes", path, maxFileSize)
	}
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: parsing %s: %w", path, err)
	}
	return c, nil
}
