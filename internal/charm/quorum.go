package charm

// maxSynchronousStandbys bounds the synchronous_standbys option (PostgreSQL takes any
// number; more than this many copies of each commit is a typo).
const maxSynchronousStandbys = 100
