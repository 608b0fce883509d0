// Package wal holds PostgreSQL's write-ahead log vocabulary as plain values: locations
// (LSN), segment file names, timeline history files and the ancestry they describe.
// PostgreSQL, the archive and the charm's decisions all speak it, so it lives here once,
// with no I/O, and every one of them can import it (plan, which is pure, included).
package wal
