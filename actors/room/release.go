package room

// A passivated room's actor can stay referenced after it stopped: the
// runtime's PID sets truncate without clearing the freed slot
// (protoactor's PIDSet.Remove), so the parent that placed the grain keeps a
// pointer to it until the slot is reused. Whatever the grain still points
// to then stays alive with it, and a member's PID points to its session
// actor, whose outbox points to the socket with its buffers. So the grain
// drops everything when it stops, and never leaves a removed member in the
// spare capacity of its member slice.

// removeMember deletes members[i], keeping order, and clears the slot the
// shift frees so the backing array does not keep the member alive.
func removeMember(members []*member, i int) []*member {
	copy(members[i:], members[i+1:])
	members[len(members)-1] = nil
	return members[:len(members)-1]
}

// release drops the grain's references once it has stopped.
func (g *grain) release() {
	clear(g.members)
	g.members = nil
	g.call = nil
	g.rec = nil
	g.mediaPID = nil
}
