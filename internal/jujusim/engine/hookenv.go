package engine

import (
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// hookEnv builds every variable of the reference's section 2.
func (e *Engine) hookEnv(st *state.State, m *state.Model, u *state.Unit, app *state.App, ev state.Event, hook, ctxID, charmDir, kind string) []string {
	ctrl := st.Controllers[m.Controller]
	api := ""
	if ctrl != nil {
		api = ctrl.HostAddr + ":17070"
	}
	hookName := hook
	if ev.Kind == "action" {
		hookName = ""
	}
	env := map[string]string{
		"CHARM_DIR": charmDir, "JUJU_CHARM_DIR": charmDir, "JUJU_CONTEXT_ID": ctxID,
		"JUJU_UNIT_NAME": u.Name, "JUJU_MODEL_UUID": m.UUID, "JUJU_MODEL_NAME": m.Name,
		"JUJU_AGENT_SOCKET_ADDRESS": "@" + AgentDir(u.Name) + "/agent.socket", "JUJU_AGENT_SOCKET_NETWORK": "unix",
		"JUJU_HOOK_NAME": hookName, "JUJU_API_ADDRESSES": api, "JUJU_SLA": "unsupported",
		"JUJU_MACHINE_ID": u.Machine, "JUJU_PRINCIPAL_UNIT": "", "JUJU_AVAILABILITY_ZONE": "",
		"JUJU_VERSION": "3.6.1", "CLOUD_API_VERSION": "",
		"JUJU_CHARM_HTTP_PROXY": "", "JUJU_CHARM_HTTPS_PROXY": "", "JUJU_CHARM_FTP_PROXY": "", "JUJU_CHARM_NO_PROXY": "127.0.0.1,localhost,::1",
		"http_proxy": "", "HTTP_PROXY": "", "https_proxy": "", "HTTPS_PROXY": "", "ftp_proxy": "", "FTP_PROXY": "",
		"no_proxy": "127.0.0.1,localhost,::1", "NO_PROXY": "127.0.0.1,localhost,::1",
		"PATH":                     e.ToolsDir() + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"APT_LISTCHANGES_FRONTEND": "none", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "TERM": "tmux-256color",
		"JUJU_DISPATCH_PATH": kind + "/" + hook,
		"JUJUSIM_HOME":       e.Home,
	}
	if ev.InRelation() {
		r := st.Relations[ev.Rel]
		side := r.SideOf(m.UUID, u.App)
		o := r.Other(side)
		s := r.Sides[side]
		env["JUJU_RELATION"] = s.Endpoint
		env["JUJU_RELATION_ID"] = state.FormatRelID(s.Endpoint, s.ID)
		env["JUJU_REMOTE_APP"] = r.Sides[o].Alias
		env["JUJU_REMOTE_UNIT"] = ""
		if ev.RemoteUnit != "" {
			env["JUJU_REMOTE_UNIT"] = r.RemoteName(o, ev.RemoteUnit)
		}
		if ev.Kind == "relation-departed" {
			if ev.Departing == u.Name {
				env["JUJU_DEPARTING_UNIT"] = u.Name
			} else {
				env["JUJU_DEPARTING_UNIT"] = r.RemoteName(o, ev.Departing)
			}
		}
	}
	if ev.IsStorage() {
		if s := m.Storage[ev.Storage]; s != nil {
			env["JUJU_STORAGE_ID"] = s.ID
			env["JUJU_STORAGE_LOCATION"] = s.Location
			env["JUJU_STORAGE_KIND"] = s.Kind
		}
	}
	if ev.Kind == "action" {
		if a := m.Actions[ev.Action]; a != nil {
			env["JUJU_ACTION_NAME"] = a.Name
			env["JUJU_ACTION_UUID"] = a.ID
			env["JUJU_ACTION_TAG"] = "action-" + a.ID
		}
	}
	if ev.Secret != "" {
		env["JUJU_SECRET_ID"] = "secret:" + ev.Secret
		label := ""
		for _, mm := range st.Models {
			if s := mm.Secrets[ev.Secret]; s != nil {
				if ownedBy(s, mm, u.Name) {
					label = s.Label
				} else if c := s.Consumers[u.Name]; c != nil {
					label = c.Label
				}
			}
		}
		env["JUJU_SECRET_LABEL"] = label
	}
	var out []string
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}
