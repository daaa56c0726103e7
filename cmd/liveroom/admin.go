package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

const adminUsage = `usage: liveroom admin <what> <action> [flags]

  agent add --id ID --name NAME [--email ADDRESS] [--password-stdin]
            create an agent account; without --password-stdin a password is
            generated and printed once
  agent passwd --id ID [--password-stdin]
            set a new password; every login of the agent ends
  agent list
  agent remove --id ID
            delete the account, its logins and its API keys (rooms stay)
  apikey add --agent ID [--name LABEL]
            create an API key for the agent's rooms; printed once
  apikey list
  apikey remove --prefix PREFIX
            delete the key whose printed prefix is PREFIX

The store is opened directly, so run these while the server is stopped.
Every server option (--data-dir, --config, --password-cost...) is accepted.
`

// admin runs `liveroom admin ...` against the store in the data folder.
func admin(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 2 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) < 2 {
			return errors.New("admin needs what and action")
		}
		return nil
	}
	what, action := args[0], args[1]
	fs := flag.NewFlagSet("admin "+what+" "+action, flag.ContinueOnError)
	id := fs.String("id", "", "agent id (1-64 letters, digits, '-' or '_')")
	name := fs.String("name", "", "agent display name, or API key label")
	email := fs.String("email", "", "agent email address for offline-form mail")
	agentID := fs.String("agent", "", "agent the API key acts for")
	prefix := fs.String("prefix", "", "API key prefix as printed by apikey list")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	cfg, err := config.Load(fs, args[2:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	password := func() (string, bool, error) {
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

	switch what + " " + action {
	case "agent add":
		return agentAdd(store, cfg, stdout, *id, *name, *email, password)
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
	case "apikey remove":
		return apikeyRemove(store, stdout, *prefix)
	}
	fmt.Fprint(stdout, adminUsage)
	return fmt.Errorf("unknown admin command %q", what+" "+action)
}

func openStore(cfg config.Config) (persistence.Store, error) {
	// With store=postgres this is the database the running cluster uses:
	// admin commands work beside it. Pebble is one process's at a time.
	store, err := server.OpenStore(cfg, zap.NewNop(), nil)
	if err != nil {
		if cfg.Store == "pebble" && strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("%w\nthe store is in use: stop the server first (admin commands open it directly)", err)
		}
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

func agentAdd(store persistence.Store, cfg config.Config, out io.Writer, id, name, email string,
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
		CreatedAtMs: time.Now().UnixMilli()}); err != nil {
		return err
	}
	if err := store.Apply(&b); err != nil {
		return err
	}
	fmt.Fprintf(out, "agent %s created\n", id)
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
	fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tCREATED")
	var derr error
	err := store.Scan(persistence.AgentPrefix(), persistence.PrefixEnd(persistence.AgentPrefix()), false, 0, func(_, v []byte) bool {
		rec := &pb.AgentRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rec.Id, rec.Name, rec.Email, time.UnixMilli(rec.CreatedAtMs).UTC().Format(time.DateTime))
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
