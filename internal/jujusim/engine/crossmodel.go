package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// Offer makes endpoints of an application consumable: "model.app:ep[,ep]" and a name.
func (e *Engine) Offer(ref ModelRef, spec, name string) (string, error) {
	var msg string
	err := e.Store.Update(func(st *state.State) error {
		modelName := ""
		rest := spec
		if i := strings.IndexByte(spec, '.'); i >= 0 && strings.IndexByte(spec, ':') > i {
			modelName, rest = spec[:i], spec[i+1:]
		}
		r := ref
		if modelName != "" {
			if c, mn, ok := strings.Cut(modelName, ":"); ok {
				r = ModelRef{Controller: c, Model: mn}
			} else {
				r.Model = modelName
			}
		}
		m, err := model(st, r)
		if err != nil {
			return err
		}
		appName, eps, _ := strings.Cut(rest, ":")
		app := m.Apps[appName]
		if app == nil || app.Remote != nil {
			return fmt.Errorf("application %q not found", appName)
		}
		var endpoints []string
		for _, ep := range strings.Split(eps, ",") {
			if ep = strings.TrimSpace(ep); ep == "" {
				continue
			}
			info, ok := app.Endpoints[ep]
			if !ok || info.Role == "peer" {
				return fmt.Errorf("application %q has no %q relation", appName, ep)
			}
			endpoints = append(endpoints, ep)
		}
		if len(endpoints) == 0 {
			return errors.New("an offer needs at least one endpoint: MODEL.APP:ENDPOINT")
		}
		if name == "" {
			name = appName
		}
		if m.Offers[name] != nil {
			return fmt.Errorf("offer %q already exists", name)
		}
		m.Offers[name] = &state.Offer{Name: name, App: appName, Endpoints: endpoints}
		msg = fmt.Sprintf("Application %q endpoints [%s] available at %q", appName, strings.Join(endpoints, " "), "admin/"+m.Name+"."+name)
		return nil
	})
	return msg, err
}

// Consume adds a SAAS for "controller:owner/model.offer" to the model; returns the message.
func (e *Engine) Consume(ref ModelRef, url, alias string) (string, error) {
	var msg string
	err := e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		ctrl, rest, ok := strings.Cut(url, ":")
		if !ok {
			ctrl, rest = m.Controller, url
		}
		rest = strings.TrimPrefix(rest, "admin/")
		modelName, offerName, ok := strings.Cut(rest, ".")
		if !ok {
			return fmt.Errorf("invalid offer URL %q: want CONTROLLER:OWNER/MODEL.OFFER", url)
		}
		om := st.FindModel(ctrl, modelName)
		if om == nil {
			return fmt.Errorf("model %q not found", ctrl+":admin/"+modelName)
		}
		off := om.Offers[offerName]
		if off == nil {
			return fmt.Errorf("application offer %q not found", "admin/"+modelName+"."+offerName)
		}
		if alias == "" {
			alias = offerName
		}
		if m.Apps[alias] != nil {
			return fmt.Errorf("saas application %q already exists", alias)
		}
		oa := om.Apps[off.App]
		eps := map[string]string{}
		for _, ep := range off.Endpoints {
			eps[ep] = oa.Endpoints[ep].Interface
		}
		full := ctrl + ":admin/" + modelName + "." + offerName
		m.Apps[alias] = &state.App{Name: alias, Remote: &state.RemoteApp{URL: full, Controller: ctrl, ModelUUID: om.UUID, App: off.App, Offer: offerName, Endpoints: eps},
			Status: state.Status{Current: "active", Since: now()}}
		msg = fmt.Sprintf("Added %s as %s", full, alias)
		return nil
	})
	return msg, err
}
