package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors/room"
	"liveroom/config"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/server"
)

const agentUsage = `  agent add --id ID --name NAME [--email ADDRESS] [--password-stdin]
            create an agent account; without --password-stdin a password is
            generated and printed once
  agent passwd --id ID [--password-stdin]
            set a new password; every login of the agent ends
  agent list
  agent remove --id ID
            delete the account, its logins and its API keys (rooms stay)
`

const apikeyUsage = `  apikey add --agent ID [--name LABEL]
            create an API key for the agent's rooms; printed once
  apikey list
  apikey remove --prefix PREFIX
            delete the key whose printed prefix is PREFIX
`

const accountUsage = `  admin add --id ID [--name NAME] [--role admin|supervisor] [--password-stdin | --password-env VAR]
            create an admin panel account (role admin by default); without a
            password given, one is generated and printed once
`

const adminUsageFooter = `
With --server URL (and an admin's API key in --key or LIVEROOM_ADMIN_KEY) the
commands go through the running server's admin API, so nothing needs a
restart; when that server does not answer, the store is opened directly.
Without --server the store is opened directly, so run them while the server
is stopped, on a data folder where the server has run once. Every server
option (--data-dir, --config, --password-cost...) is accepted; "liveroom
admin agent add -h" lists one command's flags.
`

const adminUsage = "usage: liveroom admin <what> <action> [flags]\n\n" + agentUsage + apikeyUsage + accountUsage + adminUsageFooter

// usageOf is the help for one group of commands (agent or apikey), or all.
func usageOf(what string) string {
	switch what {
	case "agent":
		return "usage: liveroom admin agent <action> [flags]\n\n" + agentUsage + adminUsageFooter
	case "apikey":
		return "usage: liveroom admin apikey <action> [flags]\n\n" + apikeyUsage + adminUsageFooter
	case "admin":
		return "usage: liveroom admin admin <action> [flags]\n\n" + accountUsage + adminUsageFooter
	}
	return adminUsage
}

// adminCommands lists each admin command's own flags; every server option
// (--data-dir, --config, ...) is accepted besides.
var adminCommands = map[string][]string{
	"agent add":     {"id", "name", "email", "password-stdin", "password-env", "server", "key"},
	"agent passwd":  {"id", "password-stdin", "password-env", "server", "key"},
	"agent list":    {"server", "key"},
	"agent remove":  {"id", "server", "key"},
	"apikey add":    {"agent", "name", "server", "key"},
	"apikey list":   {"server", "key"},
	"apikey remove": {"prefix", "server", "key"},
	"admin add":     {"id", "name", "role", "password-stdin", "password-env", "server", "key"},
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

// admin runs `liveroom admin ...` against the store in the data folder.
func admin(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, adminUsage)
		return errors.New("admin needs what and action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, adminUsage)
		return nil
	}
	if len(args) > 1 && isHelp(args[1]) {
		fmt.Fprint(stdout, usageOf(args[0]))
		return nil
	}
	if len(args) < 2 {
		fmt.Fprint(stdout, usageOf(args[0]))
		return fmt.Errorf("admin %s needs an action", args[0])
	}
	what, action := args[0], args[1]
	own, known := adminCommands[what+" "+action]
	if !known {
		fmt.Fprint(stdout, adminUsage)
		return fmt.Errorf("unknown admin command %q", what+" "+action)
	}
	all := flag.NewFlagSet("admin "+what+" "+action, flag.ContinueOnError)
	id := all.String("id", "", "agent id (1-64 letters, digits, '-' or '_')")
	name := all.String("name", "", "agent display name, or API key label")
	email := all.String("email", "", "agent email address for offline-form mail")
	agentID := all.String("agent", "", "agent the API key acts for")
	prefix := all.String("prefix", "", "API key prefix as printed by apikey list")
	fromStdin := all.Bool("password-stdin", false, "read the password from the first line of standard input")
	fromEnv := all.String("password-env", "", "read the password from this environment variable (automated set-ups)")
	role := all.String("role", "admin", "admin add: admin (everything) or supervisor (read everything, act on rooms)")
	serverURL := all.String("server", "", "base URL of a running server: use its admin API instead of the store")
	adminKey := all.String("key", os.Getenv("LIVEROOM_ADMIN_KEY"), "with --server: an admin account's API key (default $LIVEROOM_ADMIN_KEY)")
	// -h lists the command's own flags, not the fifty server options.
	ownFlags := flag.NewFlagSet(all.Name(), flag.ContinueOnError)
	for _, f := range own {
		ownFlags.Var(all.Lookup(f).Value, f, all.Lookup(f).Usage)
	}
	ownFlags.String("data-dir", config.Default().DataDir, "folder of the server's store")
	all.Usage = func() {
		out := all.Output()
		fmt.Fprintf(out, "usage: liveroom admin %s %s [flags]\n\n", what, action)
		ownFlags.SetOutput(out)
		ownFlags.PrintDefaults()
		fmt.Fprintln(out, "\nEvery server option (--config, --password-cost, ...; see liveroom serve -h) is accepted too.")
	}
	all.SetOutput(stdout)
	cfg, err := config.Load(all, args[2:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	password := func() (string, bool, error) {
		if *fromEnv != "" {
			p := os.Getenv(*fromEnv)
			if len(p) < 8 || len(p) > 72 {
				return "", false, fmt.Errorf("$%s must hold a password of 8 to 72 bytes", *fromEnv)
			}
			return p, false, nil
		}
		if !*fromStdin {
			return access.NewSecretToken(12), true, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", false, fmt.Errorf("reading the password: %w", err)
		}
		p := strings.TrimRight(line, "\r\n")
		if len(p) < 8 || len(p) > 72 {
			return "", false, errors.New("the password must be 8 to 72 bytes")
		}
		return p, false, nil
	}

	if what == "admin" && action == "add" && *role != "admin" && *role != "supervisor" {
		return errors.New("--role must be admin or supervisor")
	}
	if what+" "+action == "agent add" {
		*role = ""
	}
	if *serverURL != "" {
		rc := &remote{base: strings.TrimRight(*serverURL, "/"), key: *adminKey, out: stdout}
		if rc.reachable() {
			return rc.run(what+" "+action, remoteArgs{id: *id, name: *name, email: *email, role: *role,
				agent: *agentID, prefix: *prefix, password: password})
		}
		fmt.Fprintf(stdout, "%s does not answer; opening the store directly\n", rc.base)
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	switch what + " " + action {
	case "agent add", "admin add":
		if *name == "" && what == "admin" {
			*name = *id
		}
		return agentAdd(store, cfg, stdout, *id, *name, *email, *role, password)
	case "agent passwd":
		return agentPasswd(store, cfg, stdout, *id, password)
	case "agent list":
		return agentList(store, stdout)
	case "agent remove":
		return agentRemove(store, stdout, *id)
	case "apikey add":
		return apikeyAdd(store, stdout, *agentID, *name)
	case "apikey list":
		return apikeyList(store, stdout)
	default: // "apikey remove"
		return apikeyRemove(store, stdout, *prefix)
	}
}

// openStore opens the server's existing store. With store=postgres that is
// the database the running cluster uses, so admin commands work beside it.
// Pebble is one process's at a time, and is never created here, so a
// mistyped --data-dir is an error rather than a silent empty store.
func openStore(cfg config.Config) (persistence.Store, error) {
	if cfg.Store == "postgres" {
		return server.OpenStore(cfg, zap.NewNop(), nil)
	}
	dir := filepath.Join(cfg.DataDir, "store")
	store, err := persistence.OpenExistingPebble(dir, zap.NewNop())
	switch {
	case errors.Is(err, persistence.ErrNoStore):
		return nil, fmt.Errorf("no Liveroom store in %s: check --data-dir (the server's data_dir); "+
			"a new server creates its store when it first starts (liveroom serve)", cfg.DataDir)
	case errors.Is(err, persistence.ErrStoreInUse):
		return nil, fmt.Errorf("the store in %s is held by a running liveroom server (Pebble allows one process at a time): "+
			"stop the server, run the admin command, then start the server again", cfg.DataDir)
	case err != nil:
		return nil, err
	}
	return store, nil
}

func loadAgent(store persistence.Store, id string) (*pb.AgentRecord, error) {
	raw, err := store.Get(persistence.AgentKey(id))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("no agent %q", id)
	}
	if err != nil {
		return nil, err
	}
	rec := &pb.AgentRecord{}
	return rec, proto.Unmarshal(raw, rec)
}

func saveAgent(b *persistence.Batch, rec *pb.AgentRecord) error {
	raw, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	b.Set(persistence.AgentKey(rec.Id), raw)
	return nil
}

func hashPassword(cfg config.Config, p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), cfg.PasswordCost)
	return string(h), err
}

func agentAdd(store persistence.Store, cfg config.Config, out io.Writer, id, name, email, role string,
	password func() (string, bool, error)) error {
	if !persistence.ValidID(id) {
		return errors.New("--id must be 1-64 letters, digits, '-' or '_'")
	}
	clean, ok := room.CleanName(name, cfg.MaxNameChars)
	if !ok {
		return fmt.Errorf("--name must be 1-%d printable characters", cfg.MaxNameChars)
	}
	if email != "" {
		if email, ok = room.CleanEmail(email); !ok {
			return errors.New("--email is not a valid address")
		}
	}
	if _, err := loadAgent(store, id); err == nil {
		return fmt.Errorf("agent %q exists already", id)
	}
	p, generated, err := password()
	if err != nil {
		return err
	}
	hash, err := hashPassword(cfg, p)
	if err != nil {
		return err
	}
	var b persistence.Batch
	if err := saveAgent(&b, &pb.AgentRecord{Id: id, Name: clean, Email: email, PasswordHash: hash,
		CreatedAtMs: time.Now().UnixMilli(), Role: role}); err != nil {
		return err
	}
	if err := store.Apply(&b); err != nil {
		return err
	}
	if role != "" {
		fmt.Fprintf(out, "%s %s created (log in at /admin)\n", role, id)
	} else {
		fmt.Fprintf(out, "agent %s created\n", id)
	}
	if generated {
		fmt.Fprintf(out, "password: %s\n(shown once; change it with: liveroom admin agent passwd --id %s --password-stdin)\n", p, id)
	}
	return nil
}

// deletePrefix queues the deletion of every key under prefix.
func deletePrefix(store persistence.Store, b *persistence.Batch, prefix []byte) error {
	return store.Scan(prefix, persistence.PrefixEnd(prefix), false, 0, func(k, _ []byte) bool {
		b.Delete(append([]byte(nil), k...))
		return true
	})
}

func agentPasswd(store persistence.Store, cfg config.Config, out io.Writer, id string, password func() (string, bool, error)) error {
	rec, err := loadAgent(store, id)
	if err != nil {
		return err
	}
	p, generated, err := password()
	if err != nil {
		return err
	}
	if rec.PasswordHash, err = hashPassword(cfg, p); err != nil {
		return err
	}
	var b persistence.Batch
	if err := saveAgent(&b, rec); err != nil {
		return err
	}
	if err := deletePrefix(store, &b, persistence.AgentSessionPrefix(id)); err != nil {
		return err
	}
	if err := store.Apply(&b); err != nil {
		return err
	}
	fmt.Fprintf(out, "password of %s changed; its logins ended\n", id)
	if generated {
		fmt.Fprintf(out, "password: %s\n", p)
	}
	return nil
}

func agentList(store persistence.Store, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tROLE\tCREATED")
	var derr error
	err := store.Scan(persistence.AgentPrefix(), persistence.PrefixEnd(persistence.AgentPrefix()), false, 0, func(_, v []byte) bool {
		rec := &pb.AgentRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rec.Id, rec.Name, rec.Email, roleText(rec.Role),
			time.UnixMilli(rec.CreatedAtMs).UTC().Format(time.DateTime))
		return true
	})
	if err = errors.Join(err, derr); err != nil {
		return err
	}
	return tw.Flush()
}

func agentRemove(store persistence.Store, out io.Writer, id string) error {
	if _, err := loadAgent(store, id); err != nil {
		return err
	}
	var b persistence.Batch
	b.Delete(persistence.AgentKey(id))
	if err := deletePrefix(store, &b, persistence.AgentSessionPrefix(id)); err != nil {
		return err
	}
	keys, err := apiKeys(store)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.rec.AgentId == id {
			b.Delete(k.key)
		}
	}
	if err := store.Apply(&b); err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %s removed\n", id)
	return nil
}

func apikeyAdd(store persistence.Store, out io.Writer, agentID, label string) error {
	if _, err := loadAgent(store, agentID); err != nil {
		return fmt.Errorf("--agent: %w", err)
	}
	if len(label) > 100 {
		return errors.New("--name is too long")
	}
	key := access.NewAPIKey()
	rec := &pb.ApiKeyRecord{AgentId: agentID, Name: label, CreatedAtMs: time.Now().UnixMilli(), Prefix: key[:12]}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	if err := store.Set(persistence.APIKeyKey(access.HashHex(key)), raw); err != nil {
		return err
	}
	fmt.Fprintf(out, "API key for agent %s (shown once, keep it secret):\n%s\n", agentID, key)
	return nil
}

type storedKey struct {
	key []byte
	rec *pb.ApiKeyRecord
}

func apiKeys(store persistence.Store) ([]storedKey, error) {
	var out []storedKey
	var derr error
	p := persistence.APIKeyPrefix()
	err := store.Scan(p, persistence.PrefixEnd(p), false, 0, func(k, v []byte) bool {
		rec := &pb.ApiKeyRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		out = append(out, storedKey{append([]byte(nil), k...), rec})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].rec.CreatedAtMs < out[j].rec.CreatedAtMs })
	return out, errors.Join(err, derr)
}

func apikeyList(store persistence.Store, out io.Writer) error {
	keys, err := apiKeys(store)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tAGENT\tNAME\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.rec.Prefix, k.rec.AgentId, k.rec.Name,
			time.UnixMilli(k.rec.CreatedAtMs).UTC().Format(time.DateTime))
	}
	return tw.Flush()
}

func apikeyRemove(store persistence.Store, out io.Writer, prefix string) error {
	if len(prefix) < 8 {
		return errors.New("--prefix must be the key's printed prefix (at least 8 characters)")
	}
	keys, err := apiKeys(store)
	if err != nil {
		return err
	}
	var match []storedKey
	for _, k := range keys {
		if strings.HasPrefix(k.rec.Prefix, prefix) || strings.HasPrefix(prefix, k.rec.Prefix) {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("no API key with prefix %q", prefix)
	case 1:
	default:
		return fmt.Errorf("%d keys share prefix %q; give more of it", len(match), prefix)
	}
	if err := store.Delete(match[0].key); err != nil {
		return err
	}
	fmt.Fprintf(out, "API key %s removed\n", match[0].rec.Prefix)
	return nil
}

func roleText(r string) string {
	if r == "" {
		return "agent"
	}
	return r
}
