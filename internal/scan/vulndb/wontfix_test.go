package vulndb

import "testing"

func TestWontFixMarkers(t *testing.T) {
	tests := []struct {
		name, json string
		want       bool
	}{
		{"no marker", `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"}}]}`, false},
		{"debian urgency unimportant", `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"database_specific":{"urgency":"unimportant"}}]}`, true},
		{"debian no-dsa status", `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"database_specific":{"status":"<no-dsa>"}}]}`, true},
		{"end-of-life at the top", `{"id":"X","database_specific":{"urgency":"end-of-life"}}`, true},
		{"ecosystem_specific flag", `{"id":"X","affected":[{"package":{"ecosystem":"Ubuntu:22.04","name":"z"},"ecosystem_specific":{"will_not_fix":true}}]}`, true},
		{"debian severity word unimportant", `{"id":"X","database_specific":{"severity":"unimportant"}}`, true},
		{"urgency low is a plan to fix", `{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"database_specific":{"urgency":"low"}}]}`, false},
		{"flag of the wrong type ignored", `{"id":"X","database_specific":{"will_not_fix":"yes","urgency":7}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parseOSV([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.advisory().WontFix; got != tt.want {
				t.Errorf("WontFix = %v, want %v", got, tt.want)
			}
		})
	}
}
