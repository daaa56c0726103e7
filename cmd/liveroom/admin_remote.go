package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// remote runs admin commands through a running server's admin API.
type remote struct {
	base, key string
	out       io.Writer
	client    http.Client
}

type remoteArgs struct {
	id, name, email, role, agent, prefix string
	password                             func() (string, bool, error)
}

// reachable reports whether the server answers at all; a refused
// connection means it is stopped and the store may be opened instead.
func (c *remote) reachable() bool {
	c.client.Timeout = 30 * time.Second
	resp, err := c.client.Get(c.base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// call sends one request and decodes a JSON answer into out (when not nil).
func (c *remote) call(method, path string, body, out any) error {
	if c.key == "" {
		return errors.New("--server needs an admin API key: --key or LIVEROOM_ADMIN_KEY (make one with `liveroom admin apikey add --agent <admin id>` or in the panel)")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("server: %s (%s)", e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type remoteAgent struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	Disabled    bool   `json:"disabled"`
	Presence    string `json:"presence"`
	CreatedAtMs int64  `json:"createdAtMs"`
}

type remoteKey struct {
	Prefix      string `json:"prefix"`
	AgentID     string `json:"agentId"`
	Name        string `json:"name"`
	CreatedAtMs int64  `json:"createdAtMs"`
}

func (c *remote) agents() ([]remoteAgent, error) {
	var res struct {
		Agents []remoteAgent `json:"agents"`
	}
	return res.Agents, c.call("GET", "/api/admin/agents", nil, &res)
}

func (c *remote) keys(agentID string) ([]remoteKey, error) {
	var res struct {
		Keys []remoteKey `json:"keys"`
	}
	return res.Keys, c.call("GET", "/api/admin/agents/"+url.PathEscape(agentID)+"/keys", nil, &res)
}

func (c *remote) run(cmd string, a remoteArgs) error {
	esc := url.PathEscape
	switch cmd {
	case "agent add", "admin add":
		body := map[string]any{"id": a.id, "email": a.email, "role": a.role}
		if a.name != "" {
			body["name"] = a.name
		}
		p, generated, err := a.password()
		if err != nil {
			return err
		}
		if !generated {
			body["password"] = p
		}
		var res struct {
			Password string `json:"password"`
		}
		if err := c.call("POST", "/api/admin/agents", body, &res); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%s %s created on %s\n", roleText(a.role), a.id, c.base)
		if res.Password != "" {
			fmt.Fprintf(c.out, "password: %s\n(shown once)\n", res.Password)
		}
		return nil
	case "agent passwd":
		p, generated, err := a.password()
		if err != nil {
			return err
		}
		body := map[string]any{"resetPassword": true}
		if !generated {
			body = map[string]any{"password": p}
		}
		var res struct {
			Password string `json:"password"`
		}
		if err := c.call("PATCH", "/api/admin/agents/"+esc(a.id), body, &res); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "password of %s changed; its logins ended\n", a.id)
		if res.Password != "" {
			fmt.Fprintf(c.out, "password: %s\n", res.Password)
		}
		return nil
	case "agent list":
		list, err := c.agents()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tROLE\tPRESENCE\tCREATED")
		for _, g := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Name, g.Email, roleText(g.Role), g.Presence,
				time.UnixMilli(g.CreatedAtMs).UTC().Format(time.DateTime))
		}
		return tw.Flush()
	case "agent remove":
		if err := c.call("DELETE", "/api/admin/agents/"+esc(a.id)+"?confirm="+url.QueryEscape(a.id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "agent %s removed\n", a.id)
		return nil
	case "apikey add":
		var res struct {
			Key string `json:"key"`
		}
		if err := c.call("POST", "/api/admin/agents/"+esc(a.agent)+"/keys", map[string]any{"name": a.name}, &res); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "API key for agent %s (shown once, keep it secret):\n%s\n", a.agent, res.Key)
		return nil
	case "apikey list", "apikey remove":
		list, err := c.agents()
		if err != nil {
			return err
		}
		var all []remoteKey
		for _, g := range list {
			keys, err := c.keys(g.ID)
			if err != nil {
				return err
			}
			all = append(all, keys...)
		}
		if cmd == "apikey list" {
			tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PREFIX\tAGENT\tNAME\tCREATED")
			for _, k := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Prefix, k.AgentID, k.Name, time.UnixMilli(k.CreatedAtMs).UTC().Format(time.DateTime))
			}
			return tw.Flush()
		}
		if len(a.prefix) < 8 {
			return errors.New("--prefix must be the key's printed prefix (at least 8 characters)")
		}
		var match []remoteKey
		for _, k := range all {
			if strings.HasPrefix(k.Prefix, a.prefix) || strings.HasPrefix(a.prefix, k.Prefix) {
				match = append(match, k)
			}
		}
		if len(match) != 1 {
			return fmt.Errorf("%d keys match prefix %q", len(match), a.prefix)
		}
		k := match[0]
		if err := c.call("DELETE", "/api/admin/agents/"+esc(k.AgentID)+"/keys/"+esc(k.Prefix)+"?confirm="+url.QueryEscape(k.Prefix), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "API key %s removed\n", k.Prefix)
		return nil
	}
	fmt.Fprint(c.out, adminUsage)
	return fmt.Errorf("unknown admin command %q", cmd)
}
