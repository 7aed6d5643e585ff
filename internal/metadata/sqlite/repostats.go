package sqlite

import "strings"

// repoStatsSchema keeps, per repository, every key the Repositories page
// sorts by, so that a sorted page walks one index for 50 rows instead of
// computing a key for each of 10,000 repositories (by size 224 ms, by
// severity 375 ms before). Triggers on the tables the keys come from keep
// it exact inside the writing transaction:
//
//   - tags and size are sums, moved by each insert, delete and resize;
//   - pushed (newest manifest push or tag move, trashed manifests
//     included) and pulled (newest pull of a live manifest) are maxima:
//     raised in place, and computed again from an index only when the
//     row that leaves held the maximum;
//   - the highest severity is the highest rank with a live image: sev0…
//     sev4 count the repository's live manifests per scan_highest rank,
//     moved when a manifest comes, goes, is trashed or restored, and when
//     a digest's rank is set, changed or dropped. A manifest's count
//     leaves BEFORE its row is deleted, because deleting the last copy of
//     a digest also deletes its scan (scansgone.go) and rank.
//
// TestRepoStatsExact checks every column against the queries in
// browse.go after random pushes, retags, deletes, trash, restores, purges
// and scans.
var repoStatsSchema = strings.NewReplacer(
	"RANK_OF(NEW)", `(SELECT h.rank FROM scan_highest h WHERE h.digest = NEW.digest)`,
	"RANK_OF(OLD)", `(SELECT h.rank FROM scan_highest h WHERE h.digest = OLD.digest)`,
).Replace(`
CREATE TABLE repo_stats (
	id     INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
	name   TEXT    NOT NULL,
	tags   INTEGER NOT NULL DEFAULT 0,
	size   INTEGER NOT NULL DEFAULT 0,
	pushed INTEGER NOT NULL DEFAULT 0,
	pulled INTEGER NOT NULL DEFAULT 0,
	sev0   INTEGER NOT NULL DEFAULT 0,
	sev1   INTEGER NOT NULL DEFAULT 0,
	sev2   INTEGER NOT NULL DEFAULT 0,
	sev3   INTEGER NOT NULL DEFAULT 0,
	sev4   INTEGER NOT NULL DEFAULT 0,
	severity INTEGER GENERATED ALWAYS AS (CASE WHEN sev4 > 0 THEN 4 WHEN sev3 > 0 THEN 3
		WHEN sev2 > 0 THEN 2 WHEN sev1 > 0 THEN 1 WHEN sev0 > 0 THEN 0 ELSE -1 END) VIRTUAL
);
CREATE INDEX repo_stats_tags     ON repo_stats (tags, name);
CREATE INDEX repo_stats_size     ON repo_stats (size, name);
CREATE INDEX repo_stats_pushed   ON repo_stats (pushed, name);
CREATE INDEX repo_stats_pulled   ON repo_stats (pulled, name);
CREATE INDEX repo_stats_severity ON repo_stats (severity, name);
CREATE INDEX manifests_pushed ON manifests (repo_id, pushed_at);
CREATE INDEX manifests_pulled ON manifests (repo_id, trashed_at, last_pulled_at);

` + repoStatsBackfill() + `;

CREATE TRIGGER repo_stats_repo AFTER INSERT ON repositories BEGIN
	INSERT INTO repo_stats (id, name) VALUES (NEW.id, NEW.name);
END;

CREATE TRIGGER repo_stats_tag_insert AFTER INSERT ON tags BEGIN
	UPDATE repo_stats SET tags = tags + 1, pushed = MAX(pushed, NEW.updated) WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_tag_update AFTER UPDATE OF updated ON tags BEGIN
	UPDATE repo_stats SET pushed = CASE WHEN OLD.updated >= pushed THEN ` + pushedOf("NEW.repo_id") + `
		ELSE MAX(pushed, NEW.updated) END WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_tag_delete AFTER DELETE ON tags BEGIN
	UPDATE repo_stats SET tags = tags - 1,
		pushed = CASE WHEN OLD.updated >= pushed THEN ` + pushedOf("OLD.repo_id") + ` ELSE pushed END
	WHERE id = OLD.repo_id;
END;

CREATE TRIGGER repo_stats_blob_insert AFTER INSERT ON repo_blobs BEGIN
	UPDATE repo_stats SET size = size + NEW.size WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_blob_update AFTER UPDATE OF size ON repo_blobs BEGIN
	UPDATE repo_stats SET size = size - OLD.size + NEW.size WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_blob_delete AFTER DELETE ON repo_blobs BEGIN
	UPDATE repo_stats SET size = size - OLD.size WHERE id = OLD.repo_id;
END;

CREATE TRIGGER repo_stats_manifest_insert AFTER INSERT ON manifests BEGIN
	UPDATE repo_stats SET size = size + NEW.size, pushed = MAX(pushed, NEW.pushed_at),
		pulled = CASE WHEN NEW.trashed_at = 0 THEN MAX(pulled, NEW.last_pulled_at) ELSE pulled END,
		` + sevMove("(NEW.trashed_at = 0)", "RANK_OF(NEW)") + `
	WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_manifest_update AFTER UPDATE OF size, pushed_at, last_pulled_at, trashed_at ON manifests BEGIN
	UPDATE repo_stats SET size = size - OLD.size + NEW.size,
		pushed = CASE WHEN OLD.pushed_at >= pushed THEN ` + pushedOf("NEW.repo_id") + ` ELSE MAX(pushed, NEW.pushed_at) END,
		pulled = CASE WHEN OLD.trashed_at = 0 AND OLD.last_pulled_at >= pulled THEN ` + pulledOf("NEW.repo_id") + `
			WHEN NEW.trashed_at = 0 THEN MAX(pulled, NEW.last_pulled_at) ELSE pulled END,
		` + sevMove("((NEW.trashed_at = 0) - (OLD.trashed_at = 0))", "RANK_OF(NEW)") + `
	WHERE id = NEW.repo_id;
END;
CREATE TRIGGER repo_stats_manifest_leave BEFORE DELETE ON manifests WHEN OLD.trashed_at = 0 BEGIN
	UPDATE repo_stats SET ` + sevMove("-1", "RANK_OF(OLD)") + ` WHERE id = OLD.repo_id;
END;
CREATE TRIGGER repo_stats_manifest_delete AFTER DELETE ON manifests BEGIN
	UPDATE repo_stats SET size = size - OLD.size,
		pushed = CASE WHEN OLD.pushed_at >= pushed THEN ` + pushedOf("OLD.repo_id") + ` ELSE pushed END,
		pulled = CASE WHEN OLD.trashed_at = 0 AND OLD.last_pulled_at >= pulled THEN ` + pulledOf("OLD.repo_id") + ` ELSE pulled END
	WHERE id = OLD.repo_id;
END;

CREATE TRIGGER repo_stats_rank_insert AFTER INSERT ON scan_highest BEGIN
	UPDATE repo_stats SET ` + sevMove("1", "NEW.rank") + `
	WHERE id IN (SELECT m.repo_id FROM manifests m WHERE m.digest = NEW.digest AND m.trashed_at = 0);
END;
CREATE TRIGGER repo_stats_rank_update AFTER UPDATE OF rank ON scan_highest BEGIN
	UPDATE repo_stats SET ` + sevMove("-1", "OLD.rank") + `
	WHERE id IN (SELECT m.repo_id FROM manifests m WHERE m.digest = OLD.digest AND m.trashed_at = 0);
	UPDATE repo_stats SET ` + sevMove("1", "NEW.rank") + `
	WHERE id IN (SELECT m.repo_id FROM manifests m WHERE m.digest = NEW.digest AND m.trashed_at = 0);
END;
CREATE TRIGGER repo_stats_rank_delete AFTER DELETE ON scan_highest BEGIN
	UPDATE repo_stats SET ` + sevMove("-1", "OLD.rank") + `
	WHERE id IN (SELECT m.repo_id FROM manifests m WHERE m.digest = OLD.digest AND m.trashed_at = 0);
END;
`)

// repoStatsBackfill fills repo_stats from the tables, by the expressions
// the browse queries computed per repository before it.
func repoStatsBackfill() string {
	count := func(rank string) string {
		return `(SELECT COUNT(*) FROM manifests m JOIN scan_highest h ON h.digest = m.digest
			WHERE m.repo_id = r.id AND m.trashed_at = 0 AND h.rank = ` + rank + `)`
	}
	return `INSERT INTO repo_stats (id, name, tags, size, pushed, pulled, sev0, sev1, sev2, sev3, sev4)
	SELECT r.id, r.name, ` + browseTags + `, ` + browseSize + `, ` + browsePushed + `, ` + browsePulled + `,
		` + count("0") + `, ` + count("1") + `, ` + count("2") + `, ` + count("3") + `, ` + count("4") + `
	FROM repositories r`
}

// pushedOf and pulledOf compute a repository's maxima again: pushedOf
// from two indexes (manifests_pushed, tags_by_updated), pulledOf from the
// repository's live range of manifests_browse.
func pushedOf(repo string) string {
	return strings.ReplaceAll(`MAX(COALESCE((SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repo_id = REPO), 0),
		COALESCE((SELECT MAX(t.updated) FROM tags t WHERE t.repo_id = REPO), 0))`, "REPO", repo)
}

func pulledOf(repo string) string {
	return strings.ReplaceAll(`COALESCE((SELECT MAX(m.last_pulled_at) FROM manifests m WHERE m.repo_id = REPO AND m.trashed_at = 0), 0)`, "REPO", repo)
}

// sevMove adds by (an expression worth -1, 0 or 1) to the count of the
// rank; a NULL rank (not scanned, or no findings) counts nowhere.
func sevMove(by, rank string) string {
	var sets []string
	for i := range 5 {
		sets = append(sets, "sev"+string(rune('0'+i))+" = sev"+string(rune('0'+i))+" + "+by+" * (COALESCE("+rank+", -1) = "+string(rune('0'+i))+")")
	}
	return strings.Join(sets, ", ")
}

// repoStatsPullSchema takes pulls, the hot write, off the general
// manifest trigger: a pull only moves last_pulled_at forward, so a live
// manifest's pull raises pulled in place, and nothing else moves
// (RecordPulls of 100 took 3.9 ms before repo_stats and 7 ms with the
// general trigger). manifests_pulled goes too: it was written on every
// pull to serve only the recompute when the newest pull's manifest
// leaves, which the covering manifests_browse range serves as well.
var repoStatsPullSchema = `
DROP INDEX manifests_pulled;
DROP TRIGGER repo_stats_manifest_update;
CREATE TRIGGER repo_stats_manifest_pull AFTER UPDATE OF last_pulled_at ON manifests
	WHEN ` + pullOnly + ` BEGIN
	UPDATE repo_stats SET pulled = NEW.last_pulled_at
	WHERE id = NEW.repo_id AND NEW.trashed_at = 0 AND pulled < NEW.last_pulled_at;
END;
CREATE TRIGGER repo_stats_manifest_update AFTER UPDATE OF size, pushed_at, last_pulled_at, trashed_at ON manifests
	WHEN NOT (` + pullOnly + `) BEGIN
	UPDATE repo_stats SET size = size - OLD.size + NEW.size,
		pushed = CASE WHEN OLD.pushed_at >= pushed THEN ` + pushedOf("NEW.repo_id") + ` ELSE MAX(pushed, NEW.pushed_at) END,
		pulled = CASE WHEN OLD.trashed_at = 0 AND OLD.last_pulled_at >= pulled THEN ` + pulledOf("NEW.repo_id") + `
			WHEN NEW.trashed_at = 0 THEN MAX(pulled, NEW.last_pulled_at) ELSE pulled END,
		` + strings.ReplaceAll(sevMove("((NEW.trashed_at = 0) - (OLD.trashed_at = 0))", "RANK_OF"),
	"RANK_OF", `(SELECT h.rank FROM scan_highest h WHERE h.digest = NEW.digest)`) + `
	WHERE id = NEW.repo_id;
END;
`

// pullOnly is true for an update that only moves last_pulled_at forward.
const pullOnly = `OLD.trashed_at = NEW.trashed_at AND OLD.size = NEW.size AND OLD.pushed_at = NEW.pushed_at
	AND NEW.last_pulled_at >= OLD.last_pulled_at`
