package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
)

// BackupCheck is what Verify found about one backup's own objects.
type BackupCheck struct {
	Name     string   `json:"name"`
	Format   Format   `json:"format"`
	Parts    int      `json:"parts"` // tar objects opened and read
	Problems []string `json:"problems,omitempty"`
}

// checkBackups checks, for each backup, that the tar objects it needs are listed and
// readable: every part files_metadata.json names exists (and at least one part does), WAL-G's
// pg_control.tar is there, and each tar object opens, decompresses and yields a first tar
// header. Parts are not read to the end: that is a restore's cost, and their frames carry
// checksums a restore verifies.
func (a *Archive) checkBackups(ctx context.Context, backups []Backup) []BackupCheck {
	out := make([]BackupCheck, len(backups))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, a.Concurrency))
	for i, b := range backups {
		out[i] = BackupCheck{Name: b.Name, Format: b.Format}
		g.Go(func() error {
			out[i].Parts, out[i].Problems = a.checkBackup(gctx, b)
			return nil
		})
	}
	g.Wait()
	return out
}

func (a *Archive) checkBackup(ctx context.Context, b Backup) (int, []string) {
	var problems []string
	folder := BackupFolder + b.Name + "/" + TarPartitions
	objs, err := a.src().List(ctx, folder)
	if err != nil {
		return 0, []string{fmt.Sprintf("list %s: %v", folder, err)}
	}
	present := map[string]string{} // base name with extension -> key
	var tars []string
	control := false
	for _, o := range objs {
		base := strings.TrimPrefix(o.Name, folder)
		plain, _ := SplitExt(base)
		if !strings.HasSuffix(plain, ".tar") {
			continue
		}
		present[base] = o.Name
		tars = append(tars, o.Name)
		control = control || plain == "pg_control.tar"
	}
	if len(tars) == 0 {
		return 0, []string{"no tar parts under " + folder}
	}
	if b.Format == FormatWALG && !control {
		problems = append(problems, "pg_control.tar is missing (WAL-G uploads it after every part)")
	}
	if b.Format == FormatWALG && !b.Sentinel.FilesMetadataDisabled {
		var fm FilesMetadata
		if err := a.readJSON(ctx, BackupFolder+b.Name+"/"+FilesMetadataFile, &fm); err != nil {
			if b.Sentinel.Version >= 2 {
				problems = append(problems, fmt.Sprintf("%s: %v", FilesMetadataFile, err))
			}
		} else {
			var missing []string
			for name := range fm.TarFileSets {
				if _, ok := present[name]; !ok {
					missing = append(missing, name)
				}
			}
			sort.Strings(missing)
			for _, m := range missing {
				problems = append(problems, fmt.Sprintf("%s lists %s, which is not in the archive", FilesMetadataFile, m))
			}
		}
	}
	sort.Strings(tars)
	read := 0
	for _, key := range tars {
		if err := a.openTar(ctx, key); err != nil {
			problems = append(problems, fmt.Sprintf("%s is not readable: %v", key, err))
			continue
		}
		read++
	}
	return read, problems
}

// openTar opens a tar object and reads its first header through the decompressor.
func (a *Archive) openTar(ctx context.Context, key string) error {
	rc, err := a.getDecompressed(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := tar.NewReader(rc).Next(); err != nil {
		return fmt.Errorf("first tar header: %w", err)
	}
	return nil
}
