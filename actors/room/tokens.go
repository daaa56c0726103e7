package room

import (
	"liveroom/access"
	"liveroom/proto/pb"
)

// A member's access token (for the room's file upload and download) is
// signed, so any node can check it, but a signature alone would outlive
// the membership and even the room. So the token names the room's
// generation, which changes whenever the room is made again under the same
// id, and every use asks the room grain (CheckAccess) whether that member
// is still in this generation of the room. Leaving the room, or the room
// being deleted, ends the token at once; the TTL only bounds a membership
// that lasts.

var errNoAccess = errorf("unauthorized", "Only members of this room can use its files.")

func (g *grain) issueToken(m *member) string {
	return g.deps.Signer.Issue(access.Claims{Room: g.id, MemberID: m.info.MemberId, Name: m.info.Name,
		Role: int32(m.info.Role), Generation: g.rec.GetGeneration()}, g.deps.Settings.TokenTTL)
}

// checkAccess says whether memberID, holding a token of generation, may
// use the room's files now.
func (g *grain) checkAccess(memberID, generation string) *pb.Error {
	if g.rec == nil {
		if g.loadErr != nil {
			return errInternal
		}
		return errNoAccess
	}
	if generation != g.rec.Generation || memberID == "" {
		return errNoAccess
	}
	for _, m := range g.members {
		if m.info.MemberId == memberID {
			return nil
		}
	}
	return errNoAccess
}
