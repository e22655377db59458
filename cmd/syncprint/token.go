package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

const tokenUsage = "syncprint token create (--data DIR | --server URL --admin-token TOKEN) --user NAME [--device NAME]"

// adminTokenFile is where serverd keeps the admin token in its data dir.
const adminTokenFile = "admin.token"

func cmdToken(e env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(e.stdout, "Usage: %s\n", tokenUsage)
			return errHelp
		}
		return usagef("usage: %s", tokenUsage)
	}
	fs := newFlags("token create", tokenUsage, e.stderr)
	data := fs.String("data", "", "the server's data directory (works whether or not the server runs)")
	server := fs.String("server", "", "URL of a running server (instead of --data)")
	admin := fs.String("admin-token", "", "admin token of that server (default: $SYNCPRINT_ADMIN_TOKEN)")
	user := fs.String("user", "", "user name (created if new)")
	device := fs.String("device", "device1", "device name; each device of a user needs its own token")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("token create takes no arguments, got %q", fs.Args())
	}
	if err := protocol.ValidateName(*user); err != nil {
		return usagef("--user: %v", err)
	}
	if err := protocol.ValidateName(*device); err != nil {
		return usagef("--device: %v", err)
	}
	if *admin == "" {
		*admin = e.getenv("SYNCPRINT_ADMIN_TOKEN")
	}
	var tok string
	var err error
	switch {
	case *server != "" && *data != "":
		return usagef("give --data or --server, not both")
	case *server != "":
		if *admin == "" {
			return usagef("--server needs --admin-token (or SYNCPRINT_ADMIN_TOKEN)")
		}
		tok, err = tokenOnline(*server, *admin, *user, *device)
	case *data != "":
		tok, err = tokenFromDataDir(*data, *user, *device)
	default:
		return usagef("give --data DIR (or --server URL with --admin-token)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "token for user %q, device %q (shown once; keep it secret):\n", *user, *device)
	fmt.Fprintln(e.stdout, tok)
	return nil
}

// tokenFromDataDir opens the data dir directly; when a running server holds
// it, it asks that server through its admin endpoint instead.
func tokenFromDataDir(dir, user, device string) (string, error) {
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	srv, err := serverd.Open(serverd.Config{DataDir: dir})
	if err == nil {
		tok, cerr := srv.CreateToken(user, device)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := srv.Shutdown(ctx); cerr == nil && serr != nil {
			cerr = fmt.Errorf("close data dir: %w", serr)
		}
		return tok, cerr
	}
	if !errors.Is(err, serverd.ErrDataDirLocked) {
		return "", err
	}
	url, rerr := os.ReadFile(filepath.Join(dir, serverURLFile))
	if rerr != nil {
		return "", fmt.Errorf("data dir %s is locked by another process that is not a running syncprint server (%v)", dir, rerr)
	}
	admin, rerr := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if rerr != nil {
		return "", fmt.Errorf("read admin token: %w", rerr)
	}
	return tokenOnline(strings.TrimSpace(string(url)), strings.TrimSpace(string(admin)), user, device)
}

// tokenOnline asks a running server for a token (POST /v1/admin/tokens).
func tokenOnline(server, admin, user, device string) (string, error) {
	body, err := protocol.Marshal(protocol.TokenRequest{User: user, Device: device})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(server, "/")+protocol.PathAdminTokens, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", protocol.ContentType)
	req.Header.Set(protocol.HeaderVersion, fmt.Sprint(protocol.Version))
	hc := &http.Client{Timeout: 15 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request to %s: %w", server, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var pe protocol.Error
		if uerr := protocol.Unmarshal(b, &pe); uerr == nil && pe.Code != "" {
			return "", fmt.Errorf("token request: %w", &pe)
		}
		return "", fmt.Errorf("token request: HTTP %d", resp.StatusCode)
	}
	var tr protocol.TokenResponse
	if err := protocol.Unmarshal(b, &tr); err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	return tr.Token, nil
}
