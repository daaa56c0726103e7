package room

// Chat text may span lines and hold tabs, but nothing else a name refuses
// could be allowed in it either: control characters corrupt logs and
// terminals that show a transcript, and bidi overrides make a message read
// differently from what it says (a file name "txt.exe" shown as "exe.txt").

// badChatRune reports whether r may not appear in a chat message.
func badChatRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f: // C0 controls and DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	}
	return false
}

// ValidChatText reports whether s holds only characters a chat message may
// carry (see badChatRune).
func ValidChatText(s string) bool {
	for _, r := range s {
		if badChatRune(r) {
			return false
		}
	}
	return true
}
