package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// apiClient calls a Berth server's /api/v1 endpoints, with the Basic
// credentials of BERTH_USERNAME and BERTH_PASSWORD when they are set.
type apiClient struct {
	base           string
	http           *http.Client
	user, password string
}

// maxAPIResponse bounds what the CLI reads from the server.
const maxAPIResponse = 32 << 20

func newAPIClient(registry string) (*apiClient, error) {
	u, err := url.Parse(registry)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--registry %q: want a URL such as http://127.0.0.1:5000", registry)
	}
	return &apiClient{base: strings.TrimSuffix(registry, "/"), http: &http.Client{Timeout: 2 * time.Minute},
		user: os.Getenv("BERTH_USERNAME"), password: os.Getenv("BERTH_PASSWORD")}, nil
}

// call sends in (if not nil) as JSON and decodes the answer into out (if
// not nil); an error answer becomes the server's message.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := "application/json"
	if r, ok := in.(io.Reader); ok {
		// Uploads (berth vulndb import) are sent as they are.
		body, contentType = r, "application/octet-stream"
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1/"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return fmt.Errorf("reading answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var es oci.Errors
		if json.Unmarshal(b, &es) == nil && len(es.Errors) > 0 {
			return fmt.Errorf("%s (%d %s)", es.Errors[0].Message, resp.StatusCode, es.Errors[0].Code)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding answer of %s %s: %w", method, path, err)
	}
	return nil
}

// parseRef splits REPO, REPO:TAG or REPO@DIGEST.
func parseRef(s string) (repo, tag string, d digest.Digest, err error) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		repo, d = s[:i], digest.Digest(s[i+1:])
		if d.Validate() != nil {
			return "", "", "", fmt.Errorf("%q: invalid digest", s)
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "/") {
		repo, tag = s[:i], s[i+1:]
		if !oci.ValidTag(tag) {
			return "", "", "", fmt.Errorf("%q: invalid tag", s)
		}
	} else {
		repo = s
	}
	if !oci.ValidName(repo) {
		return "", "", "", fmt.Errorf("%q: invalid repository name", s)
	}
	return repo, tag, d, nil
}

func registryFlag(cmd *cobra.Command, p *string) {
	cmd.PersistentFlags().StringVar(p, "registry", "http://127.0.0.1:5000", "base URL of the Berth server")
}

func newTrash() *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "trash",
		Short: "List, restore and empty deleted tags and manifests (the recycle bin)",
		Long: `Deleted tags and manifests stay in the recycle bin for lifecycle.trash_days
(default 7) before the server deletes them for good. A trashed manifest is
invisible to the OCI API but keeps its content and blobs; restoring brings
back the identical digest and the tags it had. See docs/lifecycle.md.`,
	}
	registryFlag(cmd, &registry)

	var repo string
	list := &cobra.Command{
		Use: "list [--repo NAME]", Short: "List the recycle bin", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			var out struct {
				Entries []metadata.TrashEntry `json:"entries"`
			}
			if err := c.call(cmd.Context(), http.MethodGet, "trash?repository="+url.QueryEscape(repo), nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DELETED\tREFERENCE\tTAGS\tSIZE\tBY")
			for _, e := range out.Entries {
				ref := e.Repo + "@" + e.Digest.String()
				if e.Tag != "" {
					ref = e.Repo + ":" + e.Tag
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.TrashedAt.UTC().Format(time.RFC3339), ref, strings.Join(e.Tags, ","), e.Size, e.Actor)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&repo, "repo", "", "only this repository")

	var force bool
	restore := &cobra.Command{
		Use: "restore REPO:TAG | REPO@DIGEST", Short: "Restore a deleted tag or manifest", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			r, tag, d, err := parseRef(args[0])
			if err == nil && tag == "" && d == "" {
				err = errors.New("want REPO:TAG or REPO@DIGEST")
			}
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			var e metadata.TrashEntry
			in := map[string]any{"repository": r, "tag": tag, "digest": d, "force": force}
			if err := c.call(cmd.Context(), http.MethodPost, "trash/restore", in, &e); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s@%s", e.Repo, e.Digest)
			if tags := append([]string{}, e.Tags...); e.Tag != "" || len(tags) > 0 {
				if e.Tag != "" {
					tags = append(tags, e.Tag)
				}
				fmt.Fprintf(cmd.OutOrStdout(), " tags %s", strings.Join(tags, ","))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	restore.Flags().BoolVar(&force, "force", false, "move tags back even if they were pushed again since")

	var olderThan string
	empty := &cobra.Command{
		Use: "empty [--older-than 3d] [--repo NAME]", Short: "Delete recycle bin entries for good", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(registry)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			age, err := retention.ParseDuration(olderThan)
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--older-than: %w", err)}
			}
			var out struct {
				Purged int `json:"purged"`
			}
			in := map[string]string{"repository": repo, "olderThan": time.Duration(age).String()}
			if err := c.call(cmd.Context(), http.MethodPost, "trash/empty", in, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "purged %d entries\n", out.Purged)
			return nil
		},
	}
	empty.Flags().StringVar(&olderThan, "older-than", "0d", "only entries deleted longer ago than this, e.g. 3d")
	empty.Flags().StringVar(&repo, "repo", "", "only this repository")
	cmd.AddCommand(list, restore, empty)
	return cmd
}
