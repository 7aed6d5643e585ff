package inventory

import (
	"testing"
)

func TestReadWhiteouts(t *testing.T) {
	base := func(t *testing.T) *memLayer {
		return gzLayer(t,
			file("etc/os-release", debianOSRelease),
			file("var/lib/dpkg/status", dpkgStatus),
			file("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n"),
			file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21"}`),
		)
	}
	tests := []struct {
		name      string
		upper     [][]entry
		wantNames []string // sorted as the inventory sorts: ecosystem, name
		wantLayer int      // index of the layer that introduced the first package
	}{
		{
			name:      "no upper layer",
			wantNames: []string{"bash", "libc6", "libssl3", "tzdata", "lodash", "six"},
		},
		{
			name:      "whiteout removes the dpkg database",
			upper:     [][]entry{{whiteout("var/lib/dpkg/.wh.status")}},
			wantNames: []string{"lodash", "six"},
		},
		{
			name:      "whiteout of a parent directory",
			upper:     [][]entry{{whiteout("var/lib/.wh.dpkg"), whiteout("app/.wh.node_modules")}},
			wantNames: []string{"six"},
		},
		{
			name:      "opaque directory hides lower content, keeps its own",
			upper:     [][]entry{{dir("usr/lib/python3/dist-packages/"), whiteout("usr/lib/python3/dist-packages/.wh..wh..opq"), file("usr/lib/python3/dist-packages/idna-3.4.dist-info/METADATA", "Name: idna\nVersion: 3.4\n")}},
			wantNames: []string{"bash", "libc6", "libssl3", "tzdata", "lodash", "idna"},
		},
		{
			name: "opaque marker after the layer's own files",
			upper: [][]entry{{file("usr/lib/python3/dist-packages/idna-3.4.dist-info/METADATA", "Name: idna\nVersion: 3.4\n"),
				whiteout("usr/lib/python3/dist-packages/.wh..wh..opq")}},
			wantNames: []string{"bash", "libc6", "libssl3", "tzdata", "lodash", "idna"},
		},
		{
			name:      "later layer replaces the database",
			upper:     [][]entry{{file("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n")}},
			wantNames: []string{"zlib1g", "lodash", "six"},
			wantLayer: 1,
		},
		{
			name:      "replaced by a symlink",
			upper:     [][]entry{{symlink("var/lib/dpkg/status", "/dev/null")}},
			wantNames: []string{"lodash", "six"},
		},
		{
			name: "deleted then recreated in a third layer",
			upper: [][]entry{
				{whiteout("var/lib/.wh.dpkg")},
				{file("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n")},
			},
			wantNames: []string{"zlib1g", "lodash", "six"},
			wantLayer: 2,
		},
		{
			name:      "whiteout in the same layer does not hide that layer's file",
			upper:     [][]entry{{file("var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nVersion: 1\n"), whiteout("var/lib/dpkg/.wh..wh..opq")}},
			wantNames: []string{"zlib1g", "lodash", "six"},
			wantLayer: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := []Layer{base(t)}
			for _, es := range tt.upper {
				layers = append(layers, gzLayer(t, es...))
			}
			inv := mustRead(t, Options{}, layers...)
			if inv.Status != StatusComplete {
				t.Fatalf("status %s: %q", inv.Status, inv.Reasons)
			}
			var names []string
			for _, p := range inv.Packages {
				names = append(names, p.Name)
			}
			if len(names) != len(tt.wantNames) {
				t.Fatalf("packages %q, want %q", names, tt.wantNames)
			}
			for i := range names {
				if names[i] != tt.wantNames[i] {
					t.Fatalf("packages %q, want %q", names, tt.wantNames)
				}
			}
			if got, want := inv.Packages[0].Layer, layers[tt.wantLayer].Digest(); got != want {
				t.Errorf("first package from layer %s, want layer %d (%s)", got, tt.wantLayer, want)
			}
			if inv.OS.ID != "debian" {
				t.Errorf("OS lost: %+v", inv.OS)
			}
		})
	}
}

func TestReadHardlinkInsideImage(t *testing.T) {
	inv := mustRead(t, Options{}, gzLayer(t,
		file("usr/lib/os-release", debianOSRelease),
		hardlink("etc/os-release", "usr/lib/os-release"),
		file("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n"),
		hardlink("opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA", "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"),
	))
	six := find(inv, EcosystemPyPI, "six")
	if len(six) != 2 || six[1].Path != "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA" ||
		six[0].Path != "opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA" {
		t.Fatalf("six = %+v, want one per link", six)
	}
	if inv.OS.ID != "debian" {
		t.Fatalf("OS through a hard link = %+v", inv.OS)
	}
}
