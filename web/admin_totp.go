package web

import (
	"net/http"

	"liveroom/access"
	"liveroom/proto/pb"
)

// totpNew proposes a fresh secret; nothing is stored until totpSet gets a
// code the app made from it.
func (d *adminWeb) totpNew(w http.ResponseWriter, r *http.Request, who *adminWho) {
	secret := access.NewTOTPSecret()
	writeJSON(w, http.StatusOK, map[string]any{"secret": access.TOTPText(secret),
		"uri": access.TOTPURI("Liveroom", who.ID, secret)})
}

// totpSet turns the caller's own second factor on (secret and code) or off
// (code only).
func (d *adminWeb) totpSet(w http.ResponseWriter, r *http.Request, who *adminWho) {
	var req struct {
		Secret string `json:"secret"`
		Code   string `json:"code"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	msg := &pb.AgentSetTotp{Code: req.Code}
	if req.Secret != "" {
		b, ok := access.ParseTOTPText(req.Secret)
		if !ok {
			apiError(w, http.StatusBadRequest, "invalid", "The secret is not a base32 TOTP secret.")
			return
		}
		msg.Secret = b
	}
	res, ok := askAgent[*pb.AgentAdminResult](w, r.Context(), d.Node, who.ID, msg)
	if !ok {
		return
	}
	on := len(msg.Secret) > 0
	d.auditAs(r, who, "totp."+map[bool]string{true: "on", false: "off"}[on], who.ID, "")
	writeJSON(w, http.StatusOK, map[string]any{"totp": on, "agent": agentView(res)})
}
