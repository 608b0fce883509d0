// Package e2e holds jujusim's end-to-end tests: the recorder test charm deployed on real
// namespace machines, asserting Juju's hook order, leadership, storage, failures,
// actions, cross-model anonymisation, addressing and cleanup. They need root.
package e2e
