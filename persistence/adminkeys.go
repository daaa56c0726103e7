package persistence

import "fmt"

// Admin panel keys:
//
//	audit/<ms:16 hex>-<random>  one audit record, oldest first
//
// ChatRoot, FileRoot, EntryRoot and OfflineRoot are the prefixes of every
// room's (or agent's) records, for scans across all of them.

// AuditPrefix is the prefix of every audit record.
func AuditPrefix() []byte { return []byte("audit/") }

// AuditKey is the key of an audit record written at ms.
func AuditKey(ms int64, random string) []byte {
	return []byte(fmt.Sprintf("audit/%016x-%s", ms, random))
}

// ChatRoot is the prefix of every room's chat.
func ChatRoot() []byte { return []byte("chat/") }

// FileRoot is the prefix of every room's file metadata.
func FileRoot() []byte { return []byte("file/") }

// EntryRoot is the prefix of every room's entry-form records.
func EntryRoot() []byte { return []byte("entry/") }

// OfflineRoot is the prefix of every agent's offline messages.
func OfflineRoot() []byte { return []byte("offline/") }
