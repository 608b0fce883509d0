// Package pgconf is the server's settings as plain data: postgresql.conf parameters, their
// syntax (parsing the user's extra_pg_conf, rendering the charm's include file), the
// baseline every unit runs with, the settings only the charm may set, and the check of a
// value against its parameter's pg_settings description (CheckSetting). It does no I/O,
// so that plan decides the settings a unit runs with and tests reach every case of them
// without a server; internal/postgres writes and applies them.
package pgconf
