package web

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/agent"
	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

type adminAgentJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	Disabled    bool   `json:"disabled"`
	CreatedAtMs int64  `json:"createdAtMs"`
	// Presence now: online, away or offline; "unknown" when the grain did not answer.
	Presence string `json:"presence"`
	Pages    int32  `json:"pages"`
	Visitors int32  `json:"visitors"`
	Requests int32  `json:"requests"`
}

func agentView(res *pb.AgentAdminResult) adminAgentJSON {
	r := res.Record
	return adminAgentJSON{ID: r.Id, Name: r.Name, Email: r.Email, Role: r.Role, Disabled: r.Disabled,
		CreatedAtMs: r.CreatedAtMs, Presence: presenceName(res.Presence), Pages: res.Pages,
		Visitors: res.Visitors, Requests: res.Requests}
}

// maxAgentList bounds one listing; the presence of each is asked of its grain.
const maxAgentList = 500

func (d *adminWeb) listAgents(w http.ResponseWriter, r *http.Request, who *adminWho) {
	var recs []*pb.AgentRecord
	err := scanRecords(d.Store, persistence.AgentPrefix(), maxAgentList, func() *pb.AgentRecord { return &pb.AgentRecord{} },
		func(_ []byte, rec *pb.AgentRecord) { recs = append(recs, rec) })
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The accounts could not be read.")
		return
	}
	out := make([]adminAgentJSON, len(recs))
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, rec := range recs {
		out[i] = adminAgentJSON{ID: rec.Id, Name: rec.Name, Email: rec.Email, Role: rec.Role, Disabled: rec.Disabled,
			CreatedAtMs: rec.CreatedAtMs, Presence: "unknown"}
		wg.Add(1)
		go func(i int, id string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := actors.AskAgent[*pb.AgentAdminResult](ctx, d.Node, id, &pb.AgentAdminStatus{})
			if err == nil && res.Error == nil && res.Record != nil {
				out[i] = agentView(res)
			}
		}(i, rec.Id)
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}

// scanRecords decodes up to limit records under prefix.
func scanRecords[T proto.Message](s persistence.Store, prefix []byte, limit int, mk func() T, fn func(k []byte, rec T)) error {
	var derr error
	err := s.Scan(prefix, persistence.PrefixEnd(prefix), false, limit, func(k, v []byte) bool {
		rec := mk()
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		fn(k, rec)
		return true
	})
	if err != nil {
		return err
	}
	return derr
}

type agentForm struct {
	ID       *string `json:"id"`
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
	// Password sets one; ResetPassword generates one, shown once.
	Password      *string `json:"password"`
	ResetPassword bool    `json:"resetPassword"`
	// ResetTotp turns the account's second factor off.
	ResetTotp bool `json:"resetTotp"`
}

// apply validates the form onto save; it returns a problem for the client.
func (f *agentForm) apply(save *pb.AgentAdminSave, maxName int) string {
	if f.Name != nil {
		clean, ok := room.CleanName(*f.Name, maxName)
		if !ok {
			return "Name must be 1 to " + itoa(maxName) + " printable characters."
		}
		save.Name = clean
	}
	if f.Email != nil {
		save.Email = ""
		if e := strings.TrimSpace(*f.Email); e != "" {
			clean, ok := room.CleanEmail(e)
			if !ok {
				return "The email address is not valid."
			}
			save.Email = clean
		}
	}
	if f.Role != nil {
		if !agent.ValidRole(*f.Role) {
			return "Role must be empty (agent), supervisor or admin."
		}
		save.Role = *f.Role
	}
	if f.Disabled != nil {
		save.Disabled = *f.Disabled
	}
	save.ClearTotp = f.ResetTotp
	if f.Password != nil && (len(*f.Password) < 8 || len(*f.Password) > 72) {
		return "The password must be 8 to 72 bytes."
	}
	return ""
}

// password returns the password to set: the one given, a generated one, or
// none; generated says whether to show it.
func (f *agentForm) password(create bool) (p string, generated bool) {
	if f.Password != nil && *f.Password != "" {
		return *f.Password, false
	}
	if create || f.ResetPassword {
		return access.NewSecretToken(12), true
	}
	return "", false
}

func (d *adminWeb) createAgent(w http.ResponseWriter, r *http.Request, who *adminWho) {
	var f agentForm
	if !decodeJSON(w, r, &f) {
		return
	}
	if f.ID == nil || !persistence.ValidID(strings.TrimSpace(*f.ID)) {
		apiError(w, http.StatusBadRequest, "invalid", "Id must be 1-64 letters, digits, '-' or '_'.")
		return
	}
	id := strings.TrimSpace(*f.ID)
	if f.Name == nil {
		f.Name = &id
	}
	save := &pb.AgentAdminSave{Create: true}
	if problem := f.apply(save, d.maxName()); problem != "" {
		apiError(w, http.StatusBadRequest, "invalid", problem)
		return
	}
	d.saveAgent(w, r, who, id, &f, save, "agent.create")
}

func (d *adminWeb) maxName() int { return max(d.Admin.Config.MaxNameChars, 1) }

func itoa(n int) string { return strconv.Itoa(n) }

func (d *adminWeb) updateAgent(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	var f agentForm
	if !decodeJSON(w, r, &f) {
		return
	}
	cur, ok := askAgent[*pb.AgentAdminResult](w, r.Context(), d.Node, id, &pb.AgentAdminStatus{})
	if !ok {
		return
	}
	rec := cur.Record
	save := &pb.AgentAdminSave{Name: rec.Name, Email: rec.Email, Role: rec.Role, Disabled: rec.Disabled}
	if problem := f.apply(save, d.maxName()); problem != "" {
		apiError(w, http.StatusBadRequest, "invalid", problem)
		return
	}
	// An admin cannot lock themself out: no self-demotion or self-disable.
	if id == who.ID && (save.Role != rec.Role || save.Disabled) {
		apiError(w, http.StatusConflict, "own_account", "You cannot change your own role or disable yourself.")
		return
	}
	d.saveAgent(w, r, who, id, &f, save, "agent.update")
}

func (d *adminWeb) saveAgent(w http.ResponseWriter, r *http.Request, who *adminWho, id string, f *agentForm,
	save *pb.AgentAdminSave, action string) {
	password, generated := f.password(save.Create)
	if password != "" {
		hash, perr, err := d.Node.HashPassword(password)
		if err != nil || perr != nil {
			apiError(w, http.StatusInternalServerError, "internal", "The password could not be hashed.")
			return
		}
		save.PasswordHash = hash
	}
	res, ok := askAgent[*pb.AgentAdminResult](w, r.Context(), d.Node, id, save)
	if !ok {
		return
	}
	var changes []string
	if save.PasswordHash != "" {
		changes = append(changes, "password set")
	}
	if save.ClearTotp {
		changes = append(changes, "second factor off")
	}
	changes = append(changes, "role="+save.Role, "disabled="+boolText(save.Disabled))
	d.auditAs(r, who, action, id, strings.Join(changes, ", "))
	out := map[string]any{"agent": agentView(res)}
	if generated {
		out["password"] = password
	}
	status := http.StatusOK
	if save.Create {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (d *adminWeb) removeAgent(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	if !confirmed(w, r, id) {
		return
	}
	if id == who.ID {
		apiError(w, http.StatusConflict, "own_account", "You cannot remove your own account.")
		return
	}
	if _, ok := askAgent[*pb.AgentAdminResult](w, r.Context(), d.Node, id, &pb.AgentAdminRemove{}); !ok {
		return
	}
	d.auditAs(r, who, "agent.remove", id, "")
	w.WriteHeader(http.StatusNoContent)
}

type keyJSON struct {
	Prefix      string `json:"prefix"`
	AgentID     string `json:"agentId"`
	Name        string `json:"name"`
	CreatedAtMs int64  `json:"createdAtMs"`
}

func (d *adminWeb) agentKeys(agentID string) ([][]byte, []*pb.ApiKeyRecord, error) {
	var keys [][]byte
	var recs []*pb.ApiKeyRecord
	err := scanRecords(d.Store, persistence.APIKeyPrefix(), 0, func() *pb.ApiKeyRecord { return &pb.ApiKeyRecord{} },
		func(k []byte, rec *pb.ApiKeyRecord) {
			if rec.AgentId == agentID {
				keys, recs = append(keys, append([]byte(nil), k...)), append(recs, rec)
			}
		})
	return keys, recs, err
}

func (d *adminWeb) listKeys(w http.ResponseWriter, r *http.Request, who *adminWho) {
	_, recs, err := d.agentKeys(r.PathValue("id"))
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The keys could not be read.")
		return
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAtMs < recs[j].CreatedAtMs })
	out := make([]keyJSON, len(recs))
	for i, k := range recs {
		out[i] = keyJSON{k.Prefix, k.AgentId, k.Name, k.CreatedAtMs}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (d *adminWeb) createKey(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	var req struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if len(req.Name) > 100 {
		apiError(w, http.StatusBadRequest, "invalid", "The key's name is too long.")
		return
	}
	label, _ := room.CleanName(req.Name, 100)
	if _, ok := askAgent[*pb.AgentAdminResult](w, r.Context(), d.Node, id, &pb.AgentAdminStatus{}); !ok {
		return
	}
	key := access.NewAPIKey()
	rec := &pb.ApiKeyRecord{AgentId: id, Name: label, CreatedAtMs: time.Now().UnixMilli(), Prefix: key[:12]}
	raw, err := proto.Marshal(rec)
	if err == nil {
		err = d.Store.Set(persistence.APIKeyKey(access.HashHex(key)), raw)
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The key could not be stored.")
		return
	}
	d.auditAs(r, who, "apikey.create", id, rec.Prefix+" "+label)
	writeJSON(w, http.StatusCreated, map[string]any{"key": key, "prefix": rec.Prefix, "agentId": id, "name": label})
}

func (d *adminWeb) revokeKey(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id, prefix := r.PathValue("id"), r.PathValue("prefix")
	if !confirmed(w, r, prefix) {
		return
	}
	keys, recs, err := d.agentKeys(id)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The keys could not be read.")
		return
	}
	for i, rec := range recs {
		if rec.Prefix == prefix {
			if err := d.Store.Delete(keys[i]); err != nil {
				apiError(w, http.StatusInternalServerError, "internal", "The key could not be revoked.")
				return
			}
			d.auditAs(r, who, "apikey.revoke", id, prefix)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	apiError(w, http.StatusNotFound, "not_found", "No such key.")
}
