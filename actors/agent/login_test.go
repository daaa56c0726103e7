package agent

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// A login for an unknown agent id compares against a dummy hash; it must
// cost what a real agent's hash costs (password_cost), or the time taken
// tells which ids exist, and a dear dummy outlasts the request on a busy
// machine (a cost-10 dummy took 5-8 s under -race while password_cost was 4).
func TestDummyHashUsesConfiguredCost(t *testing.T) {
	for _, cost := range []int{4, 5} {
		d := Deps{Settings: Settings{PasswordCost: cost}}
		d.defaults()
		if got, err := bcrypt.Cost(dummyHash(d.Settings.PasswordCost)); err != nil || got != cost {
			t.Errorf("password_cost %d: dummy hash has cost %d (%v)", cost, got, err)
		}
	}
	d := Deps{}
	d.defaults()
	if d.Settings.PasswordCost != bcrypt.DefaultCost {
		t.Errorf("default cost %d, want %d", d.Settings.PasswordCost, bcrypt.DefaultCost)
	}
}
