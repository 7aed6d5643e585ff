package config

// Lifecycle configures the recycle bin.
type Lifecycle struct {
	// TrashDays is how long a deleted tag or manifest stays restorable
	// before the server deletes it for good; 0 turns the bin off.
	TrashDays int `yaml:"trash_days"`
}
